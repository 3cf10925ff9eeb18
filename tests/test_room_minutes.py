"""Real minutes per notebook from the progress board's verdicts (room/minutes.py)."""

from room import minutes


def verdict(learner, exercise, clock):
    return {"learner": learner, "exercise": exercise, "status": "correct", "time": f"2026-12-06T{clock}:00+0000"}


def test_minutes_run_from_the_last_verdict_before_to_the_last_verdict_of_the_notebook():
    verdicts = [
        verdict("learner01", "start-here.connect_named", "09:10"),
        verdict("learner01", "publish-subscribe.announce", "09:40"),
        verdict("learner01", "publish-subscribe.delivery", "09:52"),
        verdict("learner02", "start-here.connect_named", "09:15"),
        verdict("learner02", "publish-subscribe.announce", "10:05"),
        verdict("learner03", "start-here.connect_named", "09:00"),
        verdict("learner03", "publish-subscribe.announce", "13:00"),  # lunch in between: left out
        {"learner": "learner04", "exercise": "start-here.x", "status": "correct", "time": "yesterday"},  # unparsable
    ]
    frame = minutes.per_learner(verdicts)
    assert frame.loc["learner01", "publish-subscribe"] == 42.0
    assert frame.loc["learner02", "publish-subscribe"] == 50.0
    assert "learner03" not in frame.index
    assert "start-here" not in frame.columns  # no start for the first notebook a learner did
    table = minutes.summary(verdicts)
    assert table.loc["publish-subscribe", "learners"] == 2 and table.loc["publish-subscribe", "median"] == 46.0
