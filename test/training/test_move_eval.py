"""``scenemem eval moves``: a moved object and a different one of similar size, paired by boxes
alone and by the slot encoder's shapes (one apartment, end to end on the CPU)."""

from __future__ import annotations

import json

from scenemem_ros.cli import main
from scenemem_ros.training.move_eval import summarise


def test_eval_moves_tells_a_replacement_from_a_move(capsys):
    # seed 38: a shower stall moved; a wheelchair removed and a bar table of similar size
    # added elsewhere
    assert main(['eval', 'moves', '--seeds', '38', '--threads', '2', '--json']) == 0
    results = json.loads(capsys.readouterr().out)
    moved, replaced = results['cases']
    assert (moved['kind'], replaced['kind']) == ('moved', 'replaced')
    assert moved['tests_pairing'] and replaced['tests_pairing']
    assert moved['shapes']['pairs_by_shapes'] == 1 and replaced['shapes']['pairs'] == 0
    # boxes alone: the move is found, and the replacement is taken for one too
    assert moved['boxes']['correct'] and not replaced['boxes']['correct']
    assert replaced['boxes']['moved_overrides'] == 1
    # shapes: the move is still found, the replacement stays a removal and an addition
    assert moved['shapes']['correct'] and replaced['shapes']['correct']
    tolerance = results['config']['move_shape_tolerance']
    assert moved['shapes']['shape_distance_m'] <= tolerance < \
        replaced['shapes']['shape_distance_m']
    summary = results['summary']
    assert summary['boxes']['replacements_kept_apart'] == {'tested': 1, 'correct': 0,
                                                           'rate': 0.0}
    assert summary['shapes']['replacements_kept_apart']['rate'] == 1.0


def test_rates_count_only_cases_that_test_pairing():
    def case(kind, tests, correct):
        run = {'correct': correct, 'shape_distance_m': None, 'shape_ms_per_frame': 1.0}
        return {'kind': kind, 'tests_pairing': tests, 'boxes': run, 'shapes': run}

    summary = summarise([case('moved', True, True), case('moved', False, False),
                         case('replaced', True, False), case('replaced', True, True)])
    assert summary['boxes']['moves_found'] == {'tested': 1, 'correct': 1, 'rate': 1.0}
    assert summary['boxes']['replacements_kept_apart'] == {'tested': 2, 'correct': 1,
                                                           'rate': 0.5}
