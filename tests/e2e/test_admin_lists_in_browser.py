"""In a real browser at laptop-split width: one long unbroken value keeps every admin list column on screen."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.audit.services import audit_record
from apps.keys.vault import provider_key_create
from tests.e2e.conftest import screenshot
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 751, "height": 900}
LONG = "x" * 200

LISTS = {
    "tasks": "/admin/todos/task/",
    "provider-keys": "/admin/keys/providerkey/",
    "audit": "/admin/audit/auditevent/",
    "providers": "/admin/providers/providerconfig/",
}

MEASURE = """() => {
  const table = document.querySelector('#result_list');
  const heads = [...table.querySelectorAll('thead th')].map(th => ({
    name: th.className, right: th.getBoundingClientRect().right,
  }));
  return {viewport: window.innerWidth, table: table.getBoundingClientRect().width,
          page: document.documentElement.scrollWidth, heads};
}"""


@pytest.fixture
def admin_page(browser, live_url):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    context = browser.new_context(base_url=live_url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.goto("/admin/login/")
    tab.fill("#id_username", "root")
    tab.fill("#id_password", "pw-root-12345")
    tab.click("input[type=submit]")
    tab.wait_for_url("**/admin/")
    yield tab
    context.close()


def test_a_long_title_label_or_target_keeps_every_admin_list_column_on_screen(admin_page):
    owner = make_user("owner")
    make_task(owner, title=LONG[:200])
    make_task(owner, title="a short one")
    provider_key_create(user=owner, provider_name="openai", key="sk-browser-admin-0042", label="l" * 100)
    audit_record(actor=owner, action="a" * 64, target_type="t" * 64, target_id="9" * 64, metadata={})

    for name, path in LISTS.items():
        admin_page.goto(path)
        sizes = admin_page.evaluate(MEASURE)
        screenshot(admin_page, f"admin-list-{name}")
        assert sizes["table"] <= sizes["viewport"], (name, sizes["table"], sizes["viewport"])
        assert sizes["page"] <= sizes["viewport"], (name, sizes["page"])
        off_screen = [h["name"] for h in sizes["heads"] if h["right"] > sizes["viewport"] + 0.5]
        assert off_screen == [], (name, off_screen)
    # The audit list shows the outcome and the whole request id column on screen.
    admin_page.goto(LISTS["audit"])
    assert admin_page.locator("th.column-outcome").is_visible()
    assert admin_page.locator("th.column-request_id").is_visible()
