"""The data contract of the stages: class labels, feature names and shapes, and the columns of every
table one stage writes and another reads. Every stage imports these; none defines its own."""

from __future__ import annotations

# Class labels of the original study (0 = QCD, 1 = tt̄, 2 = W+jets), in label order.
LABELS = {"qcd": 0, "ttbar": 1, "wjets": 2}
CLASSES = tuple(LABELS)

# The 14 high-level features, in the original's order.
HLF_NAMES = (
    "HT",
    "MET",
    "phiMET",
    "MT",
    "nJets",
    "nBjets",
    "LepPt",
    "LepEta",
    "LepPhi",
    "LepIsoCh",
    "LepIsoGamma",
    "LepIsoNeu",
    "LepCharge",
    "LepIsEle",
)
# The 19 features of each particle row, in the original's order.
LLF_NAMES = (
    "Energy",
    "Px",
    "Py",
    "Pz",
    "Pt",
    "Eta",
    "Phi",
    "vtxX",
    "vtxY",
    "vtxZ",
    "ChPFIso",
    "GammaPFIso",
    "NeuPFIso",
    "isChHad",
    "isNeuHad",
    "isGamma",
    "isEle",
    "isMu",
    "Charge",
)
# The original's particle matrix: the lepton, then up to 450 tracks, 150 photons and 200 neutral hadrons.
MAX_TRACKS, MAX_PHOTONS, MAX_NEUTRALS = 450, 150, 200
N_ROWS = 1 + MAX_TRACKS + MAX_PHOTONS + MAX_NEUTRALS  # 801
# Per-event shapes of the model inputs.
SHAPES = {"HLF_input": (len(HLF_NAMES),), "GRU_input": (N_ROWS, len(LLF_NAMES))}

# Each event's identity, carried from ingestion to the predictions.
ID_COLUMNS = ("source_file", "entry", "event_number")
# Ingestion -> features (results/ingest/events.parquet): the 14 HLF (list of floats), the real particle
# rows (one flat list of n_particles x 19 floats: the 801-row matrix's padding is not stored).
EVENT_COLUMNS = ("hfeatures", "lfeatures", "n_particles", "label", "weight", *ID_COLUMNS)
# Features -> training (results/features/{train,test}.parquet): the scaled HLF, the particle rows sorted
# and scaled (ragged), with the value of the padding rows and where their block starts.
FEATURE_COLUMNS = ("HLF_input", "GRU_input", "padding_row", "padding_at", "n_particles", "label", "encoded_label", *ID_COLUMNS)
# The original's published schema (trainUndersampled_InclusiveClassifier.parquet, ...): GRU_input as
# 801 x 19 values, flat or nested; written by the export, read by the training.
ORIGINAL_COLUMNS = ("HLF_input", "GRU_input", "encoded_label", "label")
# Training -> evaluation (predictions.parquet): the class probabilities of each test event.
PROBABILITY_COLUMNS = tuple(f"prob_{name}" for name in CLASSES)
PREDICTION_COLUMNS = (*PROBABILITY_COLUMNS, "label", *ID_COLUMNS)

# The signal efficiency of the trigger's operating points: each selector's loosest threshold that keeps
# at least this fraction of its class.
TPR_TARGET = 0.99
