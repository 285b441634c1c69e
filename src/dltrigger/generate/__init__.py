"""Raw-sample generation: Pythia8 events, a fast Delphes-like detector simulation, Delphes-layout ROOT files."""
