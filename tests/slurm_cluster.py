"""A real one-node SLURM cluster for the tests, started by hand without systemd (issue 11).

Debian's slurm-wlm, slurmdbd, munge and mariadb-server (.ci/run installs them when it runs as
root). Everything lives in one temporary folder with its own sockets and ports; accounting runs
through slurmdbd and MariaDB, since without it sacct is disabled and submitit waits forever on a
job cancelled before it wrote its result. Every daemon is started here in the foreground, so its
PID is the one this module holds, and :meth:`Cluster.stop` stops them in the order that lets
job steps end cleanly: jobs cancelled (and waited for) while munge and slurmctld are up, then
slurmd, slurmctld, slurmdbd, MariaDB and munged, each by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


def missing() -> str:
    """Why the cluster cannot start here ('' when it can)."""
    if os.geteuid() != 0:
        return "the SLURM cluster test runs as root (it starts munged, MariaDB and the SLURM daemons)"
    absent = [name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]
    if absent:
        return f"not installed: {', '.join(absent)} (apt-get install slurm-wlm slurmdbd munge mariadb-server)"
    return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}
        self.host = socket.gethostname().split(".")[0]
        self.env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}

    def _wait(self, what: str, ready, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    log = (self.root / f"{name}.log").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"{name} exited {proc.returncode} while waiting for {what}: {log}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def start(self) -> "Cluster":
        r = self.root
        for sub in ("state", "spool", "db", "munge"):
            (r / sub).mkdir()
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        sock = r / "munge" / "munge.sock"
        self._start("munged", [_exe("munged"), "-F", "--force", f"--key-file={key}", f"--socket={sock}",
                               f"--pid-file={r / 'munge' / 'munged.pid'}",
                               f"--seed-file={r / 'munge' / 'seed'}",
                               f"--log-file={r / 'munged.file.log'}"])  # fmt: skip
        self._wait("munge's socket", sock.exists)
        subprocess.run([_exe("mariadb-install-db"), f"--datadir={r / 'db'}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)  # fmt: skip
        db_port, dbd_port = _free_port(), _free_port()
        db_sock = r / "mysql.sock"
        self._start("mariadbd", [_exe("mariadbd"), "--no-defaults", f"--datadir={r / 'db'}", "--user=root",
                                 f"--socket={db_sock}", f"--port={db_port}", "--bind-address=127.0.0.1",
                                 f"--pid-file={r / 'mariadb.pid'}",
                                 "--innodb-buffer-pool-size=16M"])  # fmt: skip
        self._wait("MariaDB's socket", db_sock.exists)
        sql = ("CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw'; "
               "GRANT ALL ON *.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;")  # fmt: skip
        self._wait("MariaDB to accept a connection", lambda: subprocess.run(
            [shutil.which("mariadb") or "mysql", f"--socket={db_sock}", "-uroot", "-e", "SELECT 1"],
            capture_output=True).returncode == 0)  # fmt: skip
        subprocess.run(
            [shutil.which("mariadb") or "mysql", f"--socket={db_sock}", "-uroot", "-e", sql], check=True
        )
        auth = f"AuthType=auth/munge\nAuthInfo=socket={sock}\n"
        dbd = r / "slurmdbd.conf"
        dbd.write_text(
            auth + f"DbdHost=localhost\nDbdPort={dbd_port}\nSlurmUser=root\nPidFile={r / 'slurmdbd.pid'}\n"
            f"LogFile={r / 'slurmdbd.file.log'}\n"
            "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={db_port}\nStorageUser=slurm\nStoragePass=slurmpw\nStorageLoc=slurm_acct\n"
        )
        dbd.chmod(0o600)
        ctld_port, slurmd_port = _free_port(), _free_port()
        cpus = os.cpu_count() or 1
        (r / "slurm.conf").write_text(
            f"ClusterName=pstest\nSlurmctldHost={self.host}\nSlurmUser=root\nSlurmdUser=root\n" + auth
            + f"CredType=cred/munge\nSlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\n"
            f"StateSaveLocation={r / 'state'}\nSlurmdSpoolDir={r / 'spool'}\n"
            f"SlurmctldPidFile={r / 'slurmctld.pid'}\nSlurmdPidFile={r / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={r / 'slurmctld.file.log'}\nSlurmdLogFile={r / 'slurmd.file.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\nReturnToService=2\n"
            "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
            f"AccountingStoragePort={dbd_port}\nAccountingStoragePass={sock}\nJobAcctGatherType=jobacct_gather/none\n"
            f"JobCompType=jobcomp/none\nNodeName={self.host} CPUs={cpus} State=UNKNOWN\n"
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP\n"
        )  # fmt: skip
        self._start("slurmdbd", [_exe("slurmdbd"), "-D"])
        self._wait("slurmdbd's port", lambda: _listening(dbd_port))
        self._start("slurmctld", [_exe("slurmctld"), "-D", "-i"])
        self._wait("slurmctld's port", lambda: _listening(ctld_port))
        self._start("slurmd", [_exe("slurmd"), "-D", "-N", self.host])

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=self.env
            ).stdout
            return out.strip() in ("idle", "mix")

        self._wait("the node to be idle", idle, timeout=90)
        return self

    def stop(self) -> None:
        """Cancel the jobs and wait while munge and slurmctld are up; then stop every daemon by PID."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user=root"], capture_output=True, env=self.env)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                out = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=self.env).stdout
                if not out.strip():
                    break
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def alive(self) -> list[int]:
        """PIDs of the daemons this cluster started that still run (for the test's final check)."""
        return [proc.pid for proc in self.procs.values() if proc.poll() is None]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
