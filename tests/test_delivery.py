"""Delivery specs (engine/delivery_specs.py): what each asks, how a measured mix is judged, how a run's
levels map to a spec, and the "Deliver to" menu both editor windows build from them."""
from __future__ import annotations

import pytest

from takefit.bridges import delivery_menu
from takefit.engine.delivery_specs import DELIVERIES, Delivery, delivery, menu_entries, spec_for
from takefit.engine.errors import InputError


def test_the_specs_are_what_their_documents_ask():
    asked = {name: (d.loudness, d.tolerance, d.true_peak) for name, d in DELIVERIES.items()}
    assert asked["ebu-r128"] == (-23.0, 0.5, -1.0)       # EBU R 128: -23 LUFS ±0.5 LU, -1 dBTP
    assert asked["atsc-a85"] == (-24.0, 2.0, -2.0)       # ATSC A/85: -24 LKFS ±2, -2 dBTP
    assert asked["netflix"] == (-27.0, 2.0, -2.0)        # Netflix: -27 LKFS ±2 LU dialogue-gated, -2 dBTP
    assert asked["podcast"][0] == -16.0 and asked["streaming"][0] == -14.0


@pytest.mark.parametrize("loudness,peak,meets,problem", [
    (-23.0, -1.0, True, None),
    (-23.5, -3.0, True, None),                           # at the edge of ±0.5 LU
    (-22.4, -3.0, False, "0.6 LU too loud (-22.4 LUFS, spec -23 ±0.5)"),
    (-24.1, -3.0, False, "1.1 LU too quiet"),
    (-23.0, -0.6, False, "true peak -0.6 dBTP over the -1 dBTP maximum"),
    (-23.0, None, None, None),                           # too short for a true peak reading: nothing judged
])
def test_a_mix_is_judged_as_qc_reads_it(loudness, peak, meets, problem):
    verdict = DELIVERIES["ebu-r128"].check(loudness, peak)
    assert verdict.meets is meets
    if problem:
        assert problem in verdict.line() and verdict.line().startswith("misses EBU R128 broadcast: ")
    elif meets:
        assert verdict.line() == "meets EBU R128 broadcast (-23 ±0.5 LU, ≤ -1 dBTP)"
    doc = verdict.to_json()
    assert doc["spec"] == "ebu-r128" and doc["meets"] is meets and doc["verdict"] == verdict.line()


def test_both_problems_are_named():
    verdict = DELIVERIES["netflix"].check(-22.0, -0.5)
    assert verdict.problems == ("5.0 LU too loud (-22.0 LUFS, spec -27 ±2)",
                                "true peak -0.5 dBTP over the -2 dBTP maximum")


def test_a_mix_off_its_spec_names_the_take_level_that_would_meet_it():
    """A scene of angry lines (+5 dB each) at -27 LUFS takes mixes at -23.9: takes at -30.1 would do."""
    verdict = DELIVERIES["netflix"].check(-23.9, -2.1, takes_at=-27.0)
    assert verdict.problems == ("3.1 LU too loud (-23.9 LUFS, spec -27 ±2): takes leveled to -30.1 LUFS would "
                                "put it at -27",)


def test_a_runs_levels_map_to_a_spec():
    assert spec_for(-23.0, -1.0).name == "ebu-r128"       # the defaults are EBU R128
    assert spec_for(-24.0, -2.0).name == "atsc-a85"
    assert spec_for(-24.0, -1.0).name == "arib"
    custom = spec_for(-20.0, -1.0)                       # the editor's own target, held to ±1 LU
    assert (custom.name, custom.loudness, custom.tolerance, custom.true_peak) == ("custom", -20.0, 1.0, -1.0)
    assert custom.check(-20.9, -2.0).meets and not custom.check(-18.8, -2.0).meets
    assert spec_for(None, -1.0) is None                  # loudness off: no level to judge
    assert spec_for(-20.0, -1.0, "netflix").name == "netflix"   # a named spec is the one judged by


def test_unknown_names_list_what_is_accepted():
    assert delivery("Netflix") is delivery("netflix") is delivery(" netflix ")
    with pytest.raises(InputError, match=r"unknown delivery 'bbc': accepted ebu-r128 \(-23 LUFS, -1 dBTP\), "
                                         r"atsc-a85 \(-24 LUFS, -2 dBTP\)"):
        delivery("bbc")
    with pytest.raises(ValueError, match="not a spec"):
        Delivery("x", "X", -23.0, 0.0, -1.0, "")
    with pytest.raises(ValueError, match="true peak"):
        Delivery("x", "X", -23.0, 1.0, 3.0, "")


def test_the_menu_offers_every_spec_the_raw_level_and_levels_set_otherwise():
    entries = menu_entries()
    menu = delivery_menu.choices(entries, -23.0, -1.0)
    assert [name for _, name, *_ in menu] == [*DELIVERIES, None]
    assert delivery_menu.chosen(menu, -23.0, -1.0) == 0
    assert delivery_menu.chosen(menu, -27.0, -2.0, "netflix") == list(DELIVERIES).index("netflix")
    assert delivery_menu.chosen(menu, None, -1.0) == len(menu) - 1          # the raw level
    custom = delivery_menu.choices(entries, -20.0, -1.0)
    assert custom[0] == ("As set: -20 LUFS, true peak ≤ -1 dBTP", None, -20.0, -1.0)
    named = delivery_menu.choices(entries, -26.0, -2.0, "netflix")          # --delivery netflix --loudness -26
    assert named[0][1:] == ("netflix", -26.0, -2.0) and delivery_menu.chosen(named, -26.0, -2.0, "netflix") == 0
