"""The exercise mechanism, with a demo checker: verdicts, the naming convention, the template detection."""

import asyncio

import pytest

from helpers.exercises.framework import WRONG_SO_FAR, Wrong, exercise, key_for, untouched


@exercise(hints=("return 42", "forty-two"), timeout=0.2)
async def check_answer(answer):
    value = await answer() if callable(answer) else answer
    if value != 42:
        raise Wrong(f"{value!r} is not 42")
    return "42 it is"


async def test_verdicts():
    async def hangs():
        await asyncio.sleep(10)

    WRONG_SO_FAR.pop(check_answer.key, None)
    untouched_verdict = await check_answer(..., show=False)
    assert untouched_verdict.status == "not attempted" and "Hint" not in untouched_verdict.message  # hints follow tries
    wrong = await check_answer(41, show=False)
    assert wrong.status == "wrong" and "41 is not 42" in wrong.message and "Hint 1 of 2: return 42" in wrong.message
    assert "Hint 2 of 2: forty-two" in (await check_answer(40, show=False)).message
    assert "reference solution" in (await check_answer(39, show=False)).message
    assert (await check_answer(42, show=False)).ok
    slow = await check_answer(hangs, show=False)
    assert slow.status == "wrong" and "did not finish within 0.2 s" in slow.message
    broken = await check_answer(lambda: 1 / 0, show=False)
    assert broken.status == "wrong" and "ZeroDivisionError" in broken.message


def test_a_checker_must_follow_the_naming_convention():
    def judge_other(answer):
        pass

    with pytest.raises(ValueError, match="check_<name>"):
        exercise(hint="")(judge_other)
    assert check_answer.key == "test-exercises.answer"  # from the module and the name: no number to renumber
    assert key_for("helpers.exercises.queue_groups", "groups") == "queue-groups.groups"


async def test_only_the_untouched_template_is_not_attempted():
    async def template(nc, user):
        # your code here
        return ...

    def sync_template(msg):
        return ...

    async def does_the_work_keeps_the_last_line(nc, user):
        await nc.publish("user.created", b"{}")
        return ...

    async def returns_a_value(nc, user):
        return 42

    async def returns_none(msg):  # the template's `return ...` replaced: an attempt, judged (wrong, here)
        return None

    assert untouched(...) and untouched(None) and untouched(template) and untouched(sync_template)
    assert not untouched(does_the_work_keeps_the_last_line)
    assert not untouched(returns_a_value) and not untouched(returns_none)
    assert not untouched(0) and not untouched({}) and not untouched({"a": ..., "b": 1})
    assert untouched({"f": template, "patterns": {"a": ..., "b": ...}})  # a dict template, as in 03
    assert (await check_answer(template, show=False)).status == "not attempted"
    judged = await check_answer(lambda: ..., show=False)  # a lambda returning ... is the template too
    assert judged.status == "not attempted"

    async def calls_then_returns_ellipsis():
        await asyncio.sleep(0)
        return ...

    judged = await check_answer(calls_then_returns_ellipsis, show=False)
    assert judged.status == "wrong" and "Ellipsis is not 42" in judged.message
