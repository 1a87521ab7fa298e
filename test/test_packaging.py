"""`colcon build` of the package into a temporary workspace, as a ROS user would do it."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'scenemem_ros'
IGNORED = shutil.ignore_patterns('.venv', '.git', 'build', 'install', 'log', '__pycache__',
                                 '*.egg-info', '.pytest_cache', '.mypy_cache', '.ruff_cache',
                                 'out')


def declared_console_scripts() -> list[str]:
    """Names of every console script in setup.py, read without executing it."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ' = ' in node.value:
            name, target = node.value.split(' = ', 1)
            if ':' in target and target.startswith(PACKAGE):
                names.append(name.strip())
    return names


@pytest.fixture(scope='module')
def colcon_workspace(tmp_path_factory) -> Path:
    colcon = Path(sys.executable).parent / 'colcon'
    assert colcon.exists(), f'colcon is not installed beside {sys.executable}'
    workspace = tmp_path_factory.mktemp('colcon_ws')
    shutil.copytree(REPO, workspace / 'src' / PACKAGE, ignore=IGNORED)
    env = dict(os.environ, PATH=f'{colcon.parent}{os.pathsep}{os.environ["PATH"]}')
    result = subprocess.run([str(colcon), 'build', '--event-handlers', 'console_direct-'],
                            cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


def run_sourced(workspace: Path, command: str) -> str:
    script = f'source {workspace}/install/setup.bash && {command}'
    result = subprocess.run(['bash', '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_setup_declares_the_cli_and_the_nodes():
    scripts = declared_console_scripts()
    assert 'scenemem' in scripts
    assert 'scenemem_bag_play' in scripts


def test_share_files_are_found_through_the_ament_index(colcon_workspace):
    share = run_sourced(
        colcon_workspace,
        f'{sys.executable} -c "from ament_index_python.packages import '
        f'get_package_share_directory as g; print(g(\'{PACKAGE}\'))"').strip()
    share_dir = Path(share)
    assert share_dir.is_relative_to(colcon_workspace / 'install')
    assert (share_dir / 'package.xml').is_file()
    for folder in ('launch', 'config', 'models'):
        expected = {p.name for p in (REPO / folder).iterdir() if p.is_file()
                    and not p.name.startswith('.')}
        installed = {p.name for p in (share_dir / folder).iterdir()}
        assert expected <= installed, f'{folder}: missing {sorted(expected - installed)}'


def test_every_executable_is_installed(colcon_workspace):
    lib_dir = colcon_workspace / 'install' / PACKAGE / 'lib' / PACKAGE
    for name in declared_console_scripts():
        assert os.access(lib_dir / name, os.X_OK), f'{name} missing from {lib_dir}'
    help_text = run_sourced(colcon_workspace, f'{lib_dir / "scenemem"} --help')
    assert 'world' in help_text


def launch_file_references(path: Path) -> tuple[set[str], set[str]]:
    """(executables, share files) a launch file names, read statically."""
    tree = ast.parse(path.read_text())
    executables, files = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'executable' \
                and isinstance(node.value, ast.Constant):
            executables.add(node.value.value)
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'join':
            parts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if parts:
                files.add('/'.join(parts))
    return executables, files


def test_every_launch_file_names_only_what_is_installed(colcon_workspace):
    install = colcon_workspace / 'install' / PACKAGE
    launch_files = sorted((install / 'share' / PACKAGE / 'launch').glob('*.launch.py'))
    assert {p.name for p in launch_files} >= {'memory.launch.py', 'bag_play.launch.py'}
    for launch_file in launch_files:
        executables, files = launch_file_references(launch_file)
        assert executables, f'{launch_file.name} starts no executable'
        for name in executables:
            assert os.access(install / 'lib' / PACKAGE / name, os.X_OK), \
                f'{launch_file.name}: executable {name} is not installed'
        for relative in files:
            assert (install / 'share' / PACKAGE / relative).is_file(), \
                f'{launch_file.name}: {relative} is not installed'
