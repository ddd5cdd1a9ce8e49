"""takefit.installer — installing editor scripts, user services and model assets."""
