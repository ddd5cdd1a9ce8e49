"""Kokoro's units, without the model: light importers (voice lists, the CLI) never load onnxruntime."""
SAMPLE_RATE = 24000
FRAME_SAMPLES = 600          # one duration unit: 25 ms at 24 kHz
MAX_TOKENS = 510             # style tables have 510 rows; chunks stay well below
