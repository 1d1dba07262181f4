"""Training loops copy losses to the host once per log interval, not per step.

On a GPU every copy to the host (``float(loss)``, ``loss.item()``) waits for
all the work queued before it, so a loop that reads its loss every step
stalls the GPU every step.  The models' ``train_step`` returns its losses
as device tensors and the loop gathers them (``training.LOG_EVERY``).  The
numpy-guard backend counts host copies (``guard.count_host_syncs``), so
this runs in CI's numpy-guard pass; elsewhere it is skipped.

What is counted is the *growth* with the number of steps: two runs, short
and long, of every image and point model; their difference cancels what
each run does once (the checkpoint at the end copies every weight).
"""
import pytest

from scratchgen import backend
from scratchgen.data.registry import load_dataset
from scratchgen.runs import recipes, training

pytestmark = pytest.mark.skipif(backend.NAME != "numpy-guard",
                                reason="counts host copies through the numpy-guard backend "
                                       "(CI's second pass runs it)")

BATCH = 8
SHORT, LONG = training.LOG_EVERY, 4 * training.LOG_EVERY
#: a model and a small data set it trains on
CASES = [("gan", "ring8"), ("wgan-gp", "ring8"), ("vae", "digits"), ("convvae", "digits"),
         ("cvae", "digits"), ("made", "digits"), ("dcgan", "digits"), ("cgan", "digits")]


def host_syncs_of_a_run(model, data, steps, tmp_path):
    from scratchgen.guard import count_host_syncs
    full = load_dataset(data, "train")
    dataset = full._replace(x=full.x[:BATCH * steps],
                            y=None if full.y is None else full.y[:BATCH * steps])
    config = recipes.run_config(model, data, dataset, epochs=1, batch_size=BATCH)
    config = config.__class__(**{**config.__dict__, "checkpoint_every": 10 ** 6})
    run = training.start(config, tmp_path / f"{model}-{steps}", dataset=dataset)
    with count_host_syncs() as syncs:
        run.fit(progress=False)
    assert run.step == steps
    return syncs.count


@pytest.mark.parametrize("model, data", CASES, ids=[m for m, _ in CASES])
def test_a_training_step_does_not_copy_to_the_host(model, data, tmp_path):
    short = host_syncs_of_a_run(model, data, SHORT, tmp_path)
    long = host_syncs_of_a_run(model, data, LONG, tmp_path)
    per_step = (long - short) / (LONG - SHORT)
    # a few losses, copied once per LOG_EVERY steps: far below one per step
    assert per_step <= 4 / training.LOG_EVERY, (
        f"{model}: {per_step:.2f} host copies per training step "
        f"({short} in {SHORT} steps, {long} in {LONG}); keep losses on the device")


def host_syncs_of_a_text_run(iters, tmp_path):
    from scratchgen.guard import count_host_syncs
    from scratchgen.runs import text_training
    config = text_training.TextRunConfig(iters=iters, batch_size=4, eval_interval=10 ** 6,
                                         eval_batches=1, checkpoint_every=10 ** 6,
                                         model_args={"block_size": 16, "n_layer": 1,
                                                     "n_head": 2, "n_embd": 16})
    run = text_training.start(config, tmp_path / f"charlm-{iters}")
    with count_host_syncs() as syncs:
        run.fit(progress=False)
    assert run.step == iters
    return syncs.count


def test_a_character_model_iteration_does_not_copy_to_the_host(tmp_path):
    short, long = host_syncs_of_a_text_run(SHORT, tmp_path), host_syncs_of_a_text_run(LONG, tmp_path)
    per_step = (long - short) / (LONG - SHORT)
    assert per_step <= 4 / training.LOG_EVERY, (
        f"charlm: {per_step:.2f} host copies per iteration; keep losses on the device")
