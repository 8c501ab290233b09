"""A small AF3-style Pairformer block (pairformer_block.py) trained for a few steps with
mfjit and with plain torch: the losses and first-step gradients agree. On the cpu in float32
(CI); on a GPU in bfloat16, where both are compared with a float32 torch run: mfjit's error
must be within bf16 tolerance and not worse than torch's own bf16 error by more than 2x."""

import torch

import pairformer_block as pf



def gradient_errors(got: dict, ref: dict) -> dict:
    """‖got − ref‖ / ‖ref‖ per parameter, except for gradients that are zero analytically (a
    bias added to every logit of a softmax row: ‖ref‖ under 1e-3 of the median gradient
    norm), where both engines give rounding noise: there, ‖got‖ against that median (which
    must stay under the bf16 tolerance)."""
    median = torch.stack([g.norm() for g in ref.values()]).median()
    errors = {}
    for name, r in ref.items():
        zero = r.norm() < 1e-3 * median
        errors[name] = ((got[name].norm() if zero else (got[name] - r).norm()) / (median if zero else r.norm())).item()
    return errors


def test_pairformer_training_matches_plain_torch(device):
    if device.type == "cpu":
        mf_block, torch_block, *batch = pf.make_pair(tokens=13)
        mf_losses, mf_grads = pf.train(mf_block, *batch)
        torch_losses, torch_grads = pf.train(torch_block, *batch)
        assert len(mf_grads) == len(torch_grads) > 20
        for a, b in zip(mf_losses, torch_losses):
            assert abs(a - b) <= 1e-4 * abs(b)
        for name, error in gradient_errors(mf_grads, torch_grads).items():
            assert error < 1e-4, name
        assert mf_losses[-1] < mf_losses[0]  # it trains
        return

    runs = {}
    for engine, dtype in (("mfjit", torch.bfloat16), ("torch", torch.bfloat16), ("reference", torch.float32)):
        mf_block, torch_block, *batch = pf.make_pair(tokens=48, dtype=dtype, device=device)
        runs[engine] = pf.train(mf_block if engine == "mfjit" else torch_block, *batch)
    reference_losses, reference_grads = runs["reference"]
    for engine in ("mfjit", "torch"):
        losses, _ = runs[engine]
        for a, b in zip(losses, reference_losses):
            assert abs(a - b) <= 2e-2 * abs(b), (engine, losses, reference_losses)
    mf_errors = gradient_errors(runs["mfjit"][1], reference_grads)
    torch_errors = gradient_errors(runs["torch"][1], reference_grads)
    for name in reference_grads:
        assert mf_errors[name] < max(2 * torch_errors[name], 3e-2), (name, mf_errors[name], torch_errors[name])
        assert mf_errors[name] < 1e-1, name  # whatever torch's own error
