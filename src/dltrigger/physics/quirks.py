"""The original code's deviations from the physics. Each is reproduced when its flag is set;
``features.original_quirks: true`` sets all of them (docs/original-quirks.md lists them with the
corrected behaviour the workflow uses by default)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Quirks:
    mt_squared: bool = False  # HLF "MT" = 2 MET pT (1 - cos dphi), i.e. m_T squared
    phi_not_wrapped: bool = False  # isolation cones: dphi "wrapped" at +-2 pi, so neighbours across phi = +-pi are missed
    isolation_minus_one: bool = False  # an object's isolation in its own map: ratio - 1 instead of leaving itself out
    lepton_by_eta: bool = False  # electron and muon both isolated: the larger eta wins (a porting bug), not the larger pT
    first_lepton_in_collection: bool = False  # the first qualifying lepton in collection order, not the highest-pT one
    no_lepton_eta_cut: bool = False  # no |eta| < 2.5 on the lepton
    drop_empty_isolation_maps: bool = False  # events without a track, photon or neutral hadron above threshold dropped
    charge_from_pid: bool = False  # track charge = sign(PID), wrong for negative leptons and baryons
    padding_sorted_with_particles: bool = False  # padding rows (eta = phi = 0) sorted by their dR to the lepton
    scaler_fitted_before_split: bool = False  # the HLF min-max scaler fitted on all selected events
    test_set_validates: bool = False  # no validation split: training curves (and any choice made on them) use the test set

    @classmethod
    def of(cls, original: bool) -> Quirks:
        """All of the original's deviations, or none (the corrected physics)."""
        return cls(**{field.name: original for field in fields(cls)})


CORRECTED, ORIGINAL = Quirks.of(False), Quirks.of(True)
