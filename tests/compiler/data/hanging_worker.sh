#!/bin/sh
# A stand-in for mf-hiprtc-worker that never reads its request and never answers, for the
# test compiler.hiprtc_worker_hangs: the library must kill it at its deadline.
exec sleep 600
