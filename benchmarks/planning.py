"""Planner speed and optimality on procedural floors, in-process and through real DDS.

    python benchmarks/planning.py [--json] [--sizes 400 1000] [--queries 120] [--clients 4]
                                  [--backends scipy compiled] [--no-dds] [--seed 1]
                                  [--pose-spacings 0 0.5] [--client-processes]

For each size, builds an indoor occupancy grid (rooms of 3-6 m, 0.1 m walls, one 0.9 m door per
wall, furniture; 5 cm cells), then plans between random pairs of free cells:

* grid build time (inflation, moves, components, landmark fields);
* plan() latency with one client, and with ``--clients`` threads planning at once on the shared
  grid (each thread runs every query, starting at a different offset);
* success rate, and length / optimal length against an independent solver (scipy's Dijkstra
  without heuristic or limits on a graph built here from the inflated mask);
* GetPlan latency through DDS: the planner node runs in a child process started with
  ``scenemem_ros.ros.runner.start_nodes(nodes=('planner',))``, this process publishes the map on
  ``/map`` and ``--clients`` threads (one rclpy node each) call ``/scenemem/plan``. DDS stays on
  loopback (``ros.dds.loopback_environment``). Measured once per ``--pose-spacings`` value of
  the planner's ``max_pose_spacing`` (0: one pose per cell; 0.5: turning points and at most
  0.5 m apart, the same polyline): rclpy's conversion of ~300 poses, not the search, dominates.
  With ``--client-processes`` the ``--clients`` callers are also run as separate processes (one
  rclpy node each, like separate navigation stacks), so they do not share one GIL.

Every measurement runs once per search back-end (``--backends``, default: ``scipy``, the
previous implementation, then ``compiled``, the C A*), side by side in one run, so the ratios
hold on a shared, noisy machine. The ``scipy`` rows also build the grid's landmark fields with
scipy, as before the compiled search existed.

Targets (issue): GetPlan p50 < 20 ms and p99 < 100 ms on 400 x 400 cells with 4 clients.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from scenemem_ros.planning import PlannerConfig, PlanningGrid, indoor_occupancy, native, plan
from scenemem_ros.planning.search import SEARCH_BACKENDS
from scenemem_ros.planning.waypoints import thin_path

RESOLUTION = 0.05
NAMESPACE = '/scenemem'
SERVER = """
import sys
from scenemem_ros.planning import native
if sys.argv[4] == 'scipy':
    native.LIBRARY = None  # the planner node then builds and searches with scipy
from scenemem_ros.ros.runner import start_nodes
running = start_nodes(nodes=('planner',), namespace=sys.argv[2], domain_id=int(sys.argv[1]),
                      extra_parameters={'planner': {'planner.robot_radius': float(sys.argv[3]),
                                                    'max_pose_spacing': float(sys.argv[5])}})
print('ready', flush=True)
sys.stdin.read()
running.stop()
"""
# one GetPlan client in its own process: reads its spec (JSON line), says 'ready' after a first
# answered call, waits for 'go', then prints its latencies (s) and pose counts as one JSON line
CLIENT = """
import json, sys, threading, time
import rclpy
from nav_msgs.srv import GetPlan
from rclpy.executors import SingleThreadedExecutor
spec = json.loads(sys.stdin.readline())
context = rclpy.Context()
rclpy.init(context=context, domain_id=spec['domain_id'])
node = rclpy.create_node('bench_process_client_%d' % spec['number'], context=context)
client = node.create_client(GetPlan, spec['service'])
executor = SingleThreadedExecutor(context=context)
executor.add_node(node)
spinner = threading.Thread(target=executor.spin, daemon=True)
spinner.start()
def call(query):
    request = GetPlan.Request()
    for pose, (x, y) in ((request.start, query[:2]), (request.goal, query[2:])):
        pose.header.frame_id = 'map'
        pose.pose.position.x, pose.pose.position.y = x, y
        pose.pose.orientation.w = 1.0
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _: done.set())
    if not done.wait(60.0):
        raise TimeoutError('GetPlan did not answer')
    return future.result()
assert client.wait_for_service(timeout_sec=30.0), 'the planner service never appeared'
call(spec['queries'][0])
print('ready', flush=True)
sys.stdin.readline()
latencies, poses = [], []
for query in spec['queries']:
    began = time.perf_counter()
    response = call(query)
    latencies.append(time.perf_counter() - began)
    poses.append(len(response.plan.poses))
print(json.dumps({'latencies': latencies, 'poses': poses}), flush=True)
executor.shutdown(timeout_sec=5.0)
spinner.join(timeout=10.0)
node.destroy_node()
rclpy.try_shutdown(context=context)
"""


@contextmanager
def search_backend(name: str) -> Iterator[None]:
    """Make ``name`` the default search of plan() and of grid builds, for this block."""
    if name not in SEARCH_BACKENDS:
        raise SystemExit(f'unknown backend {name!r}; choose from {sorted(SEARCH_BACKENDS)}')
    if name == 'compiled' and native.LIBRARY is None:
        raise SystemExit('the compiled search is not built: run `pip install -e .`')
    library = native.LIBRARY
    if name == 'scipy':
        native.LIBRARY = None
    try:
        yield
    finally:
        native.LIBRARY = library


@dataclass(frozen=True)
class Query:
    """One planning request in world metres."""

    start: tuple[float, float]
    goal: tuple[float, float]


def percentiles(seconds: list[float]) -> dict[str, float]:
    """Latencies in seconds -> p50, p99, mean and max in milliseconds."""
    values = np.asarray(seconds) * 1e3
    return {'p50_ms': float(np.percentile(values, 50)), 'p99_ms': float(np.percentile(values, 99)),
            'mean_ms': float(values.mean()), 'max_ms': float(values.max()), 'count': len(values)}


def random_queries(grid: PlanningGrid, count: int, seed: int) -> list[Query]:
    """Pairs of free cells drawn uniformly, positions jittered inside their cells."""
    rng = np.random.default_rng(seed)
    free = np.argwhere(grid.free)
    picks = free[rng.integers(len(free), size=(count, 2))]
    jitter = rng.uniform(-0.4, 0.4, (count, 2, 2)) * grid.resolution
    points = grid.cell_centre(picks) + jitter
    return [Query(tuple(p[0].tolist()), tuple(p[1].tolist())) for p in points]


def reference_graph(blocked: np.ndarray) -> sparse.csr_array:
    """The 8-connected move graph over ~blocked, built independently of the planner: unit and
    diagonal moves between free cells, no diagonal between two blocked cells."""
    size_x, size_y = blocked.shape
    free = np.pad(~blocked, 1)
    index = np.arange(size_x * size_y).reshape(size_x, size_y)
    rows, columns, weights = [], [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx == dy == 0:
                continue
            ok = free[1:-1, 1:-1] & free[1 + dx:size_x + 1 + dx, 1 + dy:size_y + 1 + dy]
            if dx and dy:
                ok &= free[1 + dx:size_x + 1 + dx, 1:-1] | free[1:-1, 1 + dy:size_y + 1 + dy]
            xs, ys = np.nonzero(ok)
            rows.append(index[xs, ys])
            columns.append(index[xs + dx, ys + dy])
            weights.append(np.full(len(xs), math.hypot(dx, dy)))
    count = size_x * size_y
    return sparse.csr_array((np.concatenate(weights), (np.concatenate(rows),
                                                       np.concatenate(columns))),
                            shape=(count, count))


def optimality(grid: PlanningGrid, queries: list[Query], results: list) -> dict[str, float]:
    """Planned length / reference shortest length over ``queries`` (all must be planned)."""
    graph = reference_graph(np.asarray(grid.blocked))
    size_y = grid.shape[1]
    ratios, agree = [], 0
    for query, result in zip(queries, results, strict=True):
        start = grid.point_to_cell(np.asarray(query.start))
        goal = grid.point_to_cell(np.asarray(query.goal))
        best = dijkstra(graph, indices=int(start[0] * size_y + start[1]))[
            int(goal[0] * size_y + goal[1])] * grid.resolution
        if not np.isfinite(best):
            agree += not result.success
            continue
        agree += result.success
        if result.success:
            ratios.append(result.length / best if best > 0 else 1.0)
    worst = float(np.max(np.abs(np.asarray(ratios) - 1.0))) if ratios else math.nan
    return {'checked': len(queries), 'success_agrees': agree / len(queries),
            'mean_ratio': float(np.mean(ratios)) if ratios else math.nan,
            'max_abs_ratio_minus_1': worst}


def concurrent(grid: PlanningGrid, queries: list[Query], clients: int) -> dict[str, float]:
    """Every client thread runs all queries (from its own offset) on the shared grid."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def client(number: int) -> None:
        offset = number * len(queries) // clients
        barrier.wait()
        for i in range(len(queries)):
            query = queries[(offset + i) % len(queries)]
            began = time.perf_counter()
            plan(grid, query.start, query.goal)
            latencies[number].append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [value for values in latencies for value in values]
    return {**percentiles(flat), 'plans_per_s': len(flat) / elapsed}


def core_benchmark(size: int, seed: int, count: int, clients: int, checked: int,
                   config: PlannerConfig) -> tuple[dict, PlanningGrid, list[Query]]:
    cells = indoor_occupancy((size, size), resolution=RESOLUTION, seed=seed)
    began = time.perf_counter()
    grid = PlanningGrid(cells, (0.0, 0.0), RESOLUTION, config)
    build = time.perf_counter() - began
    queries = random_queries(grid, count, seed)
    plan(grid, queries[0].start, queries[0].goal)  # warm caches
    results, seconds = [], []
    for query in queries:
        began = time.perf_counter()
        results.append(plan(grid, query.start, query.goal))
        seconds.append(time.perf_counter() - began)
    planned = [r for r in results if r.success]
    report = {
        'size': f'{size}x{size}', 'cells': size * size, 'free_fraction': float(grid.free.mean()),
        'components': grid.component_count, 'landmarks': len(grid.landmarks),
        'build_s': build, 'single': percentiles(seconds),
        'concurrent': concurrent(grid, queries, clients),
        'success_rate': len(planned) / len(results),
        'mean_expansions': float(np.mean([r.expansions for r in results])),
        'mean_path_m': float(np.mean([r.length for r in planned])) if planned else math.nan,
        'mean_detour': float(np.mean([r.length / max(np.hypot(*np.subtract(q.goal, q.start)),
                                                     1e-9)
                                      for q, r in zip(queries, results, strict=True)
                                      if r.success])) if planned else math.nan,
        'optimality': optimality(grid, queries[:checked], results[:checked]),
    }
    return report, grid, queries


def dds_benchmark(grid: PlanningGrid, queries: list[Query], clients: int, domain_id: int,
                  config: PlannerConfig, requests_per_client: int, backend: str,
                  pose_spacing: float = 0.0, client_processes: bool = False) -> dict:
    """GetPlan latency through DDS with a planner node in a child process (its
    ``max_pose_spacing`` set to ``pose_spacing``): one client alone, ``clients`` client threads
    of this process at once, and (``client_processes``) ``clients`` client processes at once."""
    from scenemem_ros.ros.dds import apply_environment, loopback_environment
    from scenemem_ros.ros.executor import PooledExecutor

    environment = loopback_environment(domain_id)
    apply_environment(environment)  # before rclpy creates its first participant
    import rclpy
    from nav_msgs.msg import OccupancyGrid
    from nav_msgs.srv import GetPlan

    from scenemem_ros.geometry.voxels import GridSpec2D
    from scenemem_ros.ros.map_msgs import grid_to_occupancy_msg
    from scenemem_ros.ros.scene_memory_node import MAP_QOS

    server = subprocess.Popen([sys.executable, '-c', SERVER, str(domain_id), NAMESPACE,
                               repr(config.robot_radius), backend, repr(pose_spacing)],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env={**os.environ, **environment},
                              text=True)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = PooledExecutor(clients + 1, context=context)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    nodes = []
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == 'ready'
        source = rclpy.create_node('bench_map', context=context)
        nodes.append(source)
        publisher = source.create_publisher(OccupancyGrid, '/map', MAP_QOS)
        spec = GridSpec2D(origin=tuple(grid.origin.tolist()), resolution=grid.resolution,
                          shape=grid.shape)
        publisher.publish(grid_to_occupancy_msg(spec, np.asarray(grid.cells), 'map', 0.0))
        callers = []
        for number in range(clients):
            node = rclpy.create_node(f'bench_client_{number}', context=context)
            nodes.append(node)
            callers.append(node.create_client(GetPlan, f'{NAMESPACE}/plan'))
        for node in nodes:
            executor.add_node(node)
        spinner.start()

        def request(query: Query) -> GetPlan.Request:
            req = GetPlan.Request()
            for pose, (x, y) in ((req.start, query.start), (req.goal, query.goal)):
                pose.header.frame_id = 'map'
                pose.pose.position.x, pose.pose.position.y = x, y
                pose.pose.orientation.w = 1.0
            return req

        def call(caller, query: Query, timeout: float = 60.0):
            done = threading.Event()
            future = caller.call_async(request(query))
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError('GetPlan did not answer')
            return future.result()

        for caller in callers:
            if not caller.wait_for_service(timeout_sec=30.0):
                raise TimeoutError('the planner service never appeared')
        expected = plan(grid, queries[0].start, queries[0].goal)
        expected_poses = len(thin_path(expected.path, pose_spacing))
        deadline = time.monotonic() + 60.0
        while len(call(callers[0], queries[0]).plan.poses) != expected_poses:
            if time.monotonic() > deadline:
                raise TimeoutError('the planner never received the map')
            time.sleep(0.1)
        latencies: list[list[float]] = [[] for _ in range(clients)]
        poses: list[int] = []
        barrier = threading.Barrier(clients)

        def client(number: int) -> None:
            offset = number * len(queries) // clients
            barrier.wait()
            for i in range(requests_per_client):
                query = queries[(offset + i) % len(queries)]
                began = time.perf_counter()
                response = call(callers[number], query)
                latencies[number].append(time.perf_counter() - began)
                poses.append(len(response.plan.poses))

        single: list[float] = []
        for query in queries[:requests_per_client]:
            began = time.perf_counter()
            call(callers[0], query)
            single.append(time.perf_counter() - began)
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        flat = [value for values in latencies for value in values]
        report = {'single': percentiles(single),
                  'concurrent': {**percentiles(flat), 'plans_per_s': len(flat) / elapsed},
                  'mean_poses': float(np.mean(poses)),
                  'empty_responses': int(sum(p == 0 for p in poses))}
        if client_processes:
            report['concurrent_processes'] = process_clients(
                queries, clients, domain_id, requests_per_client, environment)
        return report
    finally:
        executor.shutdown(timeout_sec=5.0)
        if spinner.is_alive():
            spinner.join(timeout=10.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        close_child(server)


def close_child(proc: subprocess.Popen) -> None:
    """Close a child's stdin (its signal to stop) and wait for it; kill it after 20 s."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=20.0)
    except subprocess.TimeoutExpired:
        proc.kill()


def process_clients(queries: list[Query], clients: int, domain_id: int, requests: int,
                    environment: dict[str, str]) -> dict[str, float]:
    """GetPlan latency percentiles with ``clients`` client processes (one rclpy node each, as
    separate navigation stacks would be) calling at once, each ``requests`` times."""
    procs = [subprocess.Popen([sys.executable, '-c', CLIENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env={**os.environ, **environment},
                              text=True) for _ in range(clients)]
    try:
        for number, proc in enumerate(procs):
            offset = number * len(queries) // clients
            mine = [queries[(offset + i) % len(queries)] for i in range(requests)]
            spec = {'domain_id': domain_id, 'number': number, 'service': f'{NAMESPACE}/plan',
                    'queries': [[*q.start, *q.goal] for q in mine]}
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(spec) + '\n')
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != 'ready':
                raise RuntimeError('a client process failed to start')
        began = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write('go\n')
            proc.stdin.flush()
        answers = []
        for proc in procs:
            assert proc.stdout is not None
            answers.append(json.loads(proc.stdout.readline()))
        elapsed = time.perf_counter() - began
    finally:
        for proc in procs:
            close_child(proc)
    flat = [value for answer in answers for value in answer['latencies']]
    poses = [count for answer in answers for count in answer['poses']]
    return {**percentiles(flat), 'plans_per_s': len(flat) / elapsed,
            'empty_responses': int(sum(p == 0 for p in poses))}


def latency_ratios(old: dict, new: dict) -> dict:
    """Old over new latency (and build time) of two rows of one size: > 1 means faster."""
    pairs = {'build': (old['build_s'], new['build_s']),
             '1 client p50': (old['single']['p50_ms'], new['single']['p50_ms']),
             '1 client p99': (old['single']['p99_ms'], new['single']['p99_ms']),
             'N clients p50': (old['concurrent']['p50_ms'], new['concurrent']['p50_ms']),
             'N clients p99': (old['concurrent']['p99_ms'], new['concurrent']['p99_ms'])}
    if 'dds' in old and 'dds' in new:
        pairs['DDS N p50'] = (old['dds']['concurrent']['p50_ms'],
                              new['dds']['concurrent']['p50_ms'])
        pairs['DDS N p99'] = (old['dds']['concurrent']['p99_ms'],
                              new['dds']['concurrent']['p99_ms'])
    return {'size': old['size'], 'old': old['backend'], 'new': new['backend'],
            'ratios': {name: a / b if b > 0 else math.inf for name, (a, b) in pairs.items()}}


def print_table(report: dict) -> None:
    machine = report['machine']
    print(f'machine: {machine["cpu"]}, {machine["cores"]} cores, load average '
          f'{machine["load_before"]} before / {machine["load_after"]} after; '
          f'{report["clients"]} clients; config {report["config"]}')
    header = (f'{"grid":>9} {"search":>8} {"build s":>8} {"1 client p50/p99 ms":>20} '
              f'{"N clients p50/p99 ms":>21} {"plans/s":>8} {"success":>8} {"len/opt-1":>10} '
              f'{"expanded":>9} {"DDS 1 p50/p99":>14} {"DDS N p50/p99":>14}')
    print(header)
    for row in report['results']:
        dds = row.get('dds')
        dds_one = f'{dds["single"]["p50_ms"]:.1f}/{dds["single"]["p99_ms"]:.1f}' if dds else '-'
        dds_many = (f'{dds["concurrent"]["p50_ms"]:.1f}/{dds["concurrent"]["p99_ms"]:.1f}'
                    if dds else '-')
        print(f'{row["size"]:>9} {row["backend"]:>8} {row["build_s"]:8.2f} '
              f'{row["single"]["p50_ms"]:9.1f}/{row["single"]["p99_ms"]:<10.1f} '
              f'{row["concurrent"]["p50_ms"]:10.1f}/{row["concurrent"]["p99_ms"]:<10.1f} '
              f'{row["concurrent"]["plans_per_s"]:8.0f} {row["success_rate"]:8.1%} '
              f'{row["optimality"]["max_abs_ratio_minus_1"]:10.1e} '
              f'{row["mean_expansions"]:9.0f} {dds_one:>14} {dds_many:>14}')
    for row in report['results']:
        for spacing, dds in row.get('dds_by_pose_spacing', {}).items():
            print(f'{row["size"]:>9} {row["backend"]:>8} through DDS, max_pose_spacing '
                  f'{spacing} m: {dds["mean_poses"]:.0f} poses per path, 1 client p50/p99 '
                  f'{dds["single"]["p50_ms"]:.1f}/{dds["single"]["p99_ms"]:.1f} ms, '
                  f'{report["clients"]} clients {dds["concurrent"]["p50_ms"]:.1f}/'
                  f'{dds["concurrent"]["p99_ms"]:.1f} ms' + (
                      f', {report["clients"]} client processes '
                      f'{dds["concurrent_processes"]["p50_ms"]:.1f}/'
                      f'{dds["concurrent_processes"]["p99_ms"]:.1f} ms'
                      if 'concurrent_processes' in dds else ''))
    for ratio in report['ratios']:
        print(f'{ratio["size"]}: {ratio["old"]} / {ratio["new"]} latency ratios: ' +
              ', '.join(f'{name} {value:.1f}x' for name, value in ratio['ratios'].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    parser.add_argument('--sizes', type=int, nargs='+', default=[400, 1000])
    parser.add_argument('--queries', type=int, default=120, help='random pairs per size')
    parser.add_argument('--clients', type=int, default=4)
    parser.add_argument('--checked', type=int, default=25,
                        help='queries compared with the reference solver per size')
    parser.add_argument('--dds-requests', type=int, default=60, help='per client, per size')
    parser.add_argument('--no-dds', action='store_true', help='skip the DDS measurement')
    parser.add_argument('--pose-spacings', type=float, nargs='+', default=[0.0, 0.5],
                        help="the planner's max_pose_spacing values measured through DDS, "
                             '(0: one pose per cell; the first fills the main table)')
    parser.add_argument('--client-processes', action='store_true',
                        help='also measure the clients as separate processes (one node each)')
    parser.add_argument('--domain-id', type=int, default=1 + os.getpid() % 100)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--backends', nargs='+', default=['scipy', 'compiled'],
                        choices=sorted(SEARCH_BACKENDS),
                        help='search implementations to measure side by side (old first)')
    args = parser.parse_args(argv)
    config = PlannerConfig()
    load_before = os.getloadavg()[0]
    results, ratios = [], []
    for size in args.sizes:
        rows = []
        for backend in args.backends:
            with search_backend(backend):
                row, grid, queries = core_benchmark(size, args.seed, args.queries, args.clients,
                                                    min(args.checked, args.queries), config)
                row = {'backend': backend, **row}
                if not args.no_dds:
                    reachable = [q for q, r in zip(queries, (plan(grid, q.start, q.goal)
                                                            for q in queries), strict=True)
                                 if r.success]
                    by_spacing = {spacing: dds_benchmark(grid, reachable, args.clients,
                                                         args.domain_id, config,
                                                         args.dds_requests, backend, spacing,
                                                         args.client_processes)
                                  for spacing in args.pose_spacings}
                    row['dds'] = by_spacing[args.pose_spacings[0]]
                    row['dds_by_pose_spacing'] = {str(k): v for k, v in by_spacing.items()}
            rows.append(row)
        results += rows
        if len(rows) >= 2:
            ratios.append(latency_ratios(rows[0], rows[-1]))
    report = {
        'machine': {'cpu': platform.processor() or platform.machine(),
                    'cores': os.cpu_count(), 'load_before': round(load_before, 2),
                    'load_after': round(os.getloadavg()[0], 2),
                    'python': platform.python_version()},
        'config': {name: getattr(config, name) for name in config.__dataclass_fields__},
        'clients': args.clients, 'seed': args.seed, 'results': results, 'ratios': ratios,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
