"""Signing and verifying DICOM files: ours against DCMTK's dcmsign and against plain hashing.

    .venv/bin/python -m bench.sign_bench [--files 200] [--runs 3] [--out-dir /dev/shm]

200 CT images of 512x512x16 bits (0.5 MB), signed with an RSA-2048 identity, and with an
ECDSA P-256 one (SHA-256, base profile) into another folder, then verified. dcmsign does the
same files one process each; the floor is one hashlib.sha256 pass over the same bytes (read
from the page cache as ours are).
"""

import argparse
import datetime as dt
import hashlib
import subprocess
from pathlib import Path

from bench.scratch import scratch_folder
from bench.timing import timed
from desktop.core.signatures import mac
from desktop.core.signatures.elements import read_part10, standalone
from desktop.core.signatures.profiles import Profile
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.security.signing import Signer, signer
from desktop.signing import Signed, sign_files, trust_of, verify_files
from tests.pki import KEY_PASSWORD, build_pki, trusting_keystore

PASSWORD = "benchmark keystore password"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="where signed copies go (default: beside the inputs; /dev/shm shows the work "
        "without the disk's fsync latency)",
    )
    args = parser.parse_args()
    folder = scratch_folder()
    outputs = scratch_folder(within=args.out_dir) if args.out_dir else folder
    run(args.files, args.runs, folder, outputs)


def run(count: int, runs: int, folder: Path, outputs: Path) -> None:
    """Make the files and identities in ``folder``, sign into ``outputs``, print the figures."""
    (folder / "pki").mkdir()
    pki = build_pki(folder / "pki")
    keystore = trusting_keystore(
        folder / "home", pki, PASSWORD, {"courier": "client", "courier-ec": "ec"}
    )
    study = StudySpec(
        "S",
        "Bench^Sign",
        "20240101",
        "bench",
        (SeriesSpec("CT", "axial", count=count, rows=512, columns=512),),
    )
    files = sorted(write_files(folder / "study", (study,)))
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    ours_out, theirs_out = outputs / "ours", outputs / "theirs"
    ours_out.mkdir()
    theirs_out.mkdir()
    now = dt.datetime.now(dt.UTC)
    rsa = signer(keystore.unlock_identity("courier"), now)
    ecdsa = signer(keystore.unlock_identity("courier-ec"), now)
    trust = trust_of(keystore, [])

    def sha256_pass() -> None:
        for path in files:
            hashlib.sha256(path.read_bytes()).digest()

    def ours_digest() -> None:
        nothing = standalone(b"")
        for path in files:
            part10 = read_part10(path.read_bytes())
            tags = mac.default_tags(part10.dataset)
            mac.digest("SHA256", part10, part10.dataset, tags, (nothing, nothing.dataset))

    def ours_sign(who: Signer = rsa) -> None:
        jobs = [(path, ours_out / path.name) for path in files]
        results = sign_files(jobs, who, profile=Profile.BASE, algorithm="SHA256")
        assert all(isinstance(done, Signed) for _, _, done in results)

    def ours_verify() -> None:
        checks = verify_files((ours_out / path.name for path in files), trust)
        assert all(c.ok and c.signatures for c in checks)

    key, certificate = pki.path("client", ".key"), pki.path("client")
    dcmsign = ["dcmsign", "+s", str(key), str(certificate), "+pw", KEY_PASSWORD, "+m2", "+pb"]
    check = ["dcmsign", "--verify", "+cf", str(pki.path("root-only"))]
    check += ["+uf", str(pki.path("intermediate-only"))]

    def theirs_sign() -> None:
        for path in files:
            subprocess.run([*dcmsign, str(path), str(theirs_out / path.name)], check=True)

    def theirs_verify() -> None:
        for path in files:
            subprocess.run([*check, str(theirs_out / path.name)], check=True, capture_output=True)

    results = {
        "sha256": timed(sha256_pass, runs),
        "ours MAC digest": timed(ours_digest, runs),
        "ours sign ECDSA": timed(lambda: ours_sign(ecdsa), runs),
        "ours verify ECDSA": timed(ours_verify, runs),
        "ours sign": timed(ours_sign, runs),
        "ours verify": timed(ours_verify, runs),
        "dcmsign sign": timed(theirs_sign, 1),
        "dcmsign verify": timed(theirs_verify, 1),
    }
    results["ours sign+verify"] = results["ours sign"] + results["ours verify"]
    results["ours sign+verify ECDSA"] = results["ours sign ECDSA"] + results["ours verify ECDSA"]
    results["dcmsign sign+verify"] = results["dcmsign sign"] + results["dcmsign verify"]
    print(f"{count} files, {megabytes:.0f} MB")
    for name, seconds in results.items():
        print(f"{name:>20}: {seconds:6.2f} s  {megabytes / seconds:7.0f} MB/s")
    digest_ratio = results["sha256"] / results["ours MAC digest"]
    print(f"MAC digest (read, parse, stream, hash): {digest_ratio:4.2f}x one sha256 pass")
    for what in ("sign", "verify", "sign+verify"):
        for key in ("", " ECDSA"):
            ours = results[f"ours {what}{key}"]
            print(
                f"{what + key:>18}: {results[f'dcmsign {what}'] / ours:5.1f}x dcmsign (RSA), "
                f"{results['sha256'] / ours:4.2f}x one sha256 pass"
            )


if __name__ == "__main__":
    main()
