"""Pythia8 process cards of the three topologies (and min-bias for pileup), and the hard-process veto.

The cards are code, not config, so the physics is reviewed in one place; the config can only append
Pythia settings (``generate.processes.<name>.pythia``) and choose the heavy-flavour enrichment.
"""

from __future__ import annotations

import numpy as np
import pythia8mc

# Settings shared by every process: quiet output, and hadrons with c*tau > 10 mm left stable as a
# detector simulation expects them (K0S, Lambda, pi+-, K+- reach the detector, as in CMS samples).
COMMON_SETTINGS = [
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowProcess = 0",
    "Next:numberShowInfo = 0",
    "Print:quiet = on",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10",
]

PROCESS_CARDS = {
    # Inclusive ttbar: every top decay channel; the generator-level lepton filter keeps the (semi)leptonic ones.
    "ttbar": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    # W + 1 parton at LO, W -> e/mu/tau nu (the original "Wlnu" sample).
    "wjets": [
        "WeakBosonAndParton:qqbar2Wg = on",
        "WeakBosonAndParton:qg2Wq = on",
        "PhaseSpace:pTHatMin = 20.",
        "24:onMode = off",
        "24:onIfAny = 11 13 15",
    ],
    # QCD 2 -> 2; the isolated leptons of this class come from heavy-flavour decays (see the config's
    # hard_process_veto / redecay enrichment and the README).
    "qcd": ["HardQCD:all = on", "PhaseSpace:pTHatMin = 50."],
}

# Inelastic pp collisions overlaid as pileup.
MINBIAS_CARD = ["SoftQCD:inelastic = on"]

# Weakly decaying b and c hadrons (particles; antiparticles are the negative codes). Their decays carry
# the leptons of QCD events, which the redecay enrichment re-samples.
WEAK_B_HADRONS = (511, 521, 531, 541, 5122, 5132, 5232, 5332)
WEAK_C_HADRONS = (411, 421, 431, 4122, 4132, 4232, 4332)
WEAK_HF_HADRONS = WEAK_B_HADRONS + WEAK_C_HADRONS


# Where a process-level hook leaves, for the events it keeps, how many times each is written: the
# polarisation of the event record's first entry (the whole system, which nothing else reads), so that
# it travels with the event through the shower into ``Pythia.nextBatch``'s output.
COPIES_ENTRY = 0
W_LEPTONS = (11, 13, 15)


class LeptonicWPrescale(pythia8mc.UserHooks):
    """Decide on the hard process with its resonance decays, before the (expensive) shower, whether the
    event can give the isolated lepton: a W decaying to e, mu or tau with the lepton above ``pt_min`` within
    |eta| < ``eta_max``. Events that can are kept; the others are kept one in ``prescale`` (a seeded
    draw) and tagged to be written ``prescale`` times, with their own detector response and pileup each:
    the sample is the unfiltered one in expectation, event by event (a lepton from a b or c decay, or
    pushed into the acceptance by the shower's recoil, still triggers one in ``prescale`` of the events
    it would have), at the shower's cost for 1/``prescale`` of the events that cannot give one. Pythia
    lowers its cross-section estimate (``sigmaGen``) by the vetoed fraction, so each written event
    carries the cross-section of a generated one.

    The decision loops over the hard-process record (~15 entries), not over an event's particles.
    """

    def __init__(self, pt_min: float, eta_max: float, prescale: int, seed: int):
        super().__init__()
        self.pt_min, self.eta_max, self.prescale = float(pt_min), float(eta_max), int(prescale)
        self.rng = np.random.default_rng(seed)

    def canVetoProcessLevel(self):
        return True

    def doVetoProcessLevel(self, process):
        for index in range(process.size()):
            lepton = process[index]
            if (
                abs(lepton.id()) in W_LEPTONS
                and abs(process[lepton.mother1()].id()) == 24
                and lepton.pT() > self.pt_min
                and abs(lepton.eta()) < self.eta_max
            ):
                process[COPIES_ENTRY].pol(1.0)
                return False
        if self.rng.random() < 1.0 / self.prescale:
            process[COPIES_ENTRY].pol(float(self.prescale))
            return False
        return True


class HardProcessVeto(pythia8mc.UserHooks):
    """Veto events before the shower unless the hard 2 -> 2 has an outgoing b (or c) quark within |eta| < eta_max.

    The veto costs microseconds per tried hard process, while the shower it avoids costs ~10 ms; Pythia
    lowers its cross-section estimate (``sigmaGen``) by the vetoed fraction, so rates stay correct.
    """

    def __init__(self, flavours, eta_max):
        super().__init__()
        self.flavours = frozenset(int(f) for f in flavours)
        self.eta_max = float(eta_max)

    def canVetoProcessLevel(self):
        return True

    def doVetoProcessLevel(self, process):
        # A hard process record holds ~7 entries: this is not a loop over the event's particles.
        for index in range(process.size()):
            parton = process[index]
            if parton.status() == 23 and abs(parton.id()) in self.flavours and abs(parton.eta()) < self.eta_max:
                return False
        return True


def make_pythia(card, seed, sqrt_s_gev, extra_settings=(), stable_ids=(), hooks=None, process_level=True):
    """An initialised Pythia for ``card`` with a fixed seed (identical events for identical arguments)."""
    pythia = pythia8mc.Pythia("", False)
    settings = [
        *COMMON_SETTINGS,
        "Random:setSeed = on",
        f"Random:seed = {int(seed)}",
    ]
    if process_level:
        settings += [f"Beams:eCM = {float(sqrt_s_gev)}", *card, *extra_settings]
    else:
        settings += ["ProcessLevel:all = off", *extra_settings]
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    for pdg_id in stable_ids:
        pythia.particleData.mayDecay(pdg_id, False)
    if hooks is not None:
        pythia.setUserHooksPtr(hooks)
    if not pythia.init():
        raise RuntimeError("Pythia failed to initialise (see the log for its messages)")
    return pythia
