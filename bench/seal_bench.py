"""Sealing and opening secure DICOM files: ours against the openssl command line.

    .venv/bin/python -m bench.seal_bench [--files 50] [--runs 3]

CT images of 512x512x16 bits (0.5 MB) sealed in memory for an RSA-2048 recipient, with a
SHA-256 DigestedData and with an RSA-2048 SignedData inside, then opened (decrypt + check).
openssl does `cms -sign | cms -encrypt -aes256` and `cms -decrypt` on the same files, one
process per step and file, as a script would.
"""

import argparse
import subprocess

from bench.scratch import scratch_folder
from bench.timing import ct_series, timed
from desktop.security.cms import open_sealed, seal
from desktop.security.signing import Trust
from tests.pki import KEY_PASSWORD, build_pki


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = scratch_folder()
    (folder / "pki").mkdir()
    pki = build_pki(folder / "pki")
    files = sorted(ct_series(folder / "study", args.files, "Bench^Seal"))
    contents = [f.read_bytes() for f in files]
    megabytes = sum(len(c) for c in contents) / 2**20
    recipient, identity = pki.client.certificate, pki.unlocked(pki.client)
    trust = Trust([pki.root.certificate], [pki.intermediate.certificate], [])
    digested = [seal(c, recipient, None) for c in contents]
    signed = [seal(c, recipient, identity) for c in contents]
    secret = ["-passin", f"pass:{KEY_PASSWORD}"]
    cert, key = str(pki.path("client")), str(pki.path("client", ".key"))

    def openssl_seal() -> None:
        for path in files:
            signature = subprocess.run(
                ["openssl", "cms", "-sign", "-nodetach", "-binary", "-in", str(path),
                 "-signer", cert, "-inkey", key, *secret, "-outform", "DER"],
                capture_output=True, check=True,
            ).stdout  # fmt: skip
            subprocess.run(
                ["openssl", "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER",
                 "-out", str(folder / "sealed.p7m"), cert],
                input=signature, capture_output=True, check=True,
            )  # fmt: skip

    def openssl_open() -> None:
        for _ in files:
            subprocess.run(
                ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(folder / "sealed.p7m"),
                 "-recip", cert, "-inkey", key, *secret, "-binary"],
                capture_output=True, check=True,
            )  # fmt: skip

    measures = {
        "ours: seal, DigestedData": lambda: [seal(c, recipient, None) for c in contents],
        "ours: seal, SignedData (RSA-2048)": lambda: [
            seal(c, recipient, identity) for c in contents
        ],
        "ours: open + check digest": lambda: [open_sealed(s, identity, trust) for s in digested],
        "ours: open + check signature and chain": lambda: [
            open_sealed(s, identity, trust) for s in signed
        ],
        "openssl: cms -sign | cms -encrypt -aes256": openssl_seal,
        "openssl: cms -decrypt": openssl_open,
    }
    print(f"{args.files} files, {megabytes:.1f} MB, best of {args.runs}")
    for name, action in measures.items():
        seconds = timed(action, args.runs)
        print(
            f"| {name} | {seconds:.2f} s | {args.files / seconds:.0f} files/s | "
            f"{megabytes / seconds:.0f} MB/s |"
        )


if __name__ == "__main__":
    main()
