"""The checker itself: it must catch what it claims to catch, or a green page test means nothing."""

from tests.web.a11y import accessibility_problems


def test_a_labelled_page_has_no_problems():
    html = """
      <label for="q">Search</label><input id="q" name="q">
      <select aria-label="Provider"><option>a</option></select>
      <h2 id="h">Message</h2><textarea aria-labelledby="h"></textarea>
      <label>Remember <input type="checkbox" name="r"></label>
      <input type="hidden" name="csrfmiddlewaretoken" value="x"><button>Send</button>
      <img src="a.png" alt=""><button aria-label="Close">×</button>
    """
    assert accessibility_problems(html) == []


def test_unlabelled_controls_images_without_alt_and_nameless_buttons_are_reported():
    html = """
      <label for="other">Other</label><input id="q" name="q">
      <select name="s"></select>
      <textarea aria-labelledby="missing"></textarea>
      <input type="password" name="key" aria-label="  ">
      <img src="chart.png">
      <button><span></span></button>
    """
    problems = accessibility_problems(html)
    assert len(problems) == 6, problems
    assert any('name="q"' in p for p in problems)
    assert any("chart.png" in p for p in problems)
    assert any("button" in p for p in problems)
