"""The ring, file, decode and TLS/QUIC suites under AddressSanitizer + UndefinedBehaviorSanitizer.

Builds every extension with ``RINGCAP_SANITIZE=1`` into a copy of the
package under test, then runs the ring, capture-file, batch, decode and
fuzzing tests against that copy with ``libasan`` preloaded.  Any read or
write outside an allocation, or any undefined behaviour (overflow, bad
shift, misaligned access), aborts the run and fails this test.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ringcap

REPO = Path(__file__).resolve().parent.parent
SUITES = ["test_batch.py", "test_hostile_batches.py", "test_pcap.py", "test_decode.py",
          "test_drain.py", "test_ring.py", "test_pcap_live.py", "test_fuzz.py",
          "test_tls_hello.py",
          "test_app_decode.py::test_fuzz_built_messages_never_raise_nor_read_past_caplen",
          "test_app_decode.py::test_hypothesis_edits_of_real_messages_never_raise_nor_read_past_caplen",
          "test_app_candidates.py::test_random_and_edited_messages_decode_as_with_every_packet_looked_at",
          "test_app_decode.py::test_dns_truncated_at_every_length_is_flagged_never_garbage",
          "test_app_candidates.py::test_the_list_drops_no_built_message_cut_anywhere_around_its_first_byte",
          "test_decode_reuse.py::test_reused_application_columns_hold_nothing_of_the_batch_before",
          "test_printer.py::test_built_packets_print_within_an_exact_room_whatever_the_flags",
          "test_printer.py::test_tunnel_frames_cut_anywhere_print_within_the_promised_room",
          "test_printer.py::test_long_ipv6_extension_header_chains_stay_within_the_promised_room",
          "test_printer.py::test_long_verbose_lists_stay_within_the_promised_room",
          "test_printer.py::test_worst_case_frames_stay_within_the_promised_room",
          "test_printer.py::test_verbose_dns_and_http_text_stays_within_the_promised_room",
          "test_printer_lan.py::test_lan_frames_cut_anywhere_print_within_the_promised_room",
          "test_printer_lan.py::test_long_lan_lists_stay_within_the_promised_room"]


def libasan() -> str:
    found = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                           text=True).stdout.strip()
    if not found or not os.path.exists(found):
        pytest.fail("libasan.so not found: install gcc's AddressSanitizer runtime (libasan8)")
    return os.path.realpath(found)


@pytest.mark.timeout(1800)
def test_suites_pass_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    if not (REPO / "setup.py").exists():
        pytest.fail("the sanitizer build needs the source tree (setup.py) next to tests/")
    package = Path(ringcap.__file__).resolve().parent
    shutil.copytree(package, tmp_path / "ringcap",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "RINGCAP_SANITIZE": "1"}
    env.pop("RINGCAP_CYTHON_DEBUG", None)
    env.pop("RINGCAP_EXTENSIONS", None)
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path),
         "--build-temp", str(tmp_path / "build"), "--force"],
        cwd=REPO, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        LD_PRELOAD=libasan(),
        # CPython itself leaks by design at exit; everything else is checked.
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:"
                     "detect_stack_use_after_return=1:check_initialization_order=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
        RINGCAP_FUZZ_SECONDS="20",
        PYTHONPATH=str(tmp_path),
    )
    check = subprocess.run(
        [sys.executable, "-c", "import ringcap._ring, ringcap._decode, ringcap._pcapio as p;"
         "print(p.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.strip().startswith(str(tmp_path)), check.stdout
    # the sanitizer runtime really is in the extensions
    nm = subprocess.run(["nm", "-D", check.stdout.strip()], capture_output=True, text=True)
    assert "__asan_report_load" in nm.stdout and "__ubsan_handle" in nm.stdout
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *[str(REPO / "tests" / s) for s in SUITES], "-q",
         "-p", "no:cacheprovider", "-W", "error", "-x", "--rootdir", str(REPO)],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    tail = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, tail
    last = run.stdout.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last and "failed" not in last, last
