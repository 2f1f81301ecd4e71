import pytest

from helm_ac.extension import durations


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("300ms", 0.3), ("2m30s", 150), ("0", 0),
    ("1h0m0s", 3600), (".5s", 0.5), ("10us", 1e-5), ("1µs", 1e-6),
])
def test_parse(text, seconds):
    assert durations.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "", "5", "-5s", "5 m", "1d", "m5", "1h 30m", "5mm",
                                  "٣s", "1٣s", "３m", "१h", "1.٥s", "٠"])  # digits are ASCII, as for Go
def test_reject(text):
    with pytest.raises(ValueError):
        durations.parse(text)


@pytest.mark.parametrize("seconds,text", [(90, "1m30s"), (3600, "1h"), (0.25, "250ms"), (5400, "1h30m")])
def test_format(seconds, text):
    assert durations.format_seconds(seconds) == text


def test_the_largest_go_duration_is_accepted_and_one_hour_more_is_not():
    assert durations.parse("2562047h") == 2562047 * 3600
    with pytest.raises(ValueError, match="too large"):
        durations.parse("2562048h")


@pytest.mark.parametrize("seconds,text", [(89.6, "1m30s"), (0.6, "600ms"), (0.999, "999ms"), (1, "1s")])
def test_format_rounds_to_whole_seconds_from_one_second_up(seconds, text):
    assert durations.format_seconds(seconds) == text
