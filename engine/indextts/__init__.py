"""IndexTTS2 as a takefit backend (issue #25): upstream's code from the `indextts` extra
(indextts2-inference), weights from a local checkpoint folder. Importing this package imports no torch."""
