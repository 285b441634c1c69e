"""The study's definitions: the Delphes layout, kinematics, the isolated-lepton selection, the 14
high-level features and the particle rows, the original's quirks, and the preprocessing of the rows."""
