"""axe-core on every rupt_guard page, in headless Chromium, at desktop and phone widths.

Each case brings a page to one state (a pending sign-in with each set of factors, a wrong
code, the security pages before and after a change, the devices pages, the "this wasn't
me" link, the admin pages) and runs axe-core on what the browser shows once its scripts
have run. A violation of impact "serious" or "critical" fails the case, with the rule, the
elements and the rule's help page.

axe-core comes from the PyPI package axe-playwright-python, which ships axe.min.js inside
the wheel: nothing is downloaded when the tests run. Pages are served by Django's live
server at http://localhost:PORT (a secure origin, so the passkey scripts run as they do
for users). Signed-in states are made with ``rupt_guard.testing.login_verified`` on a test
client whose session cookie is handed to the browser; pending ones by signing in through
the login form with a token of the fake Rupt, as a new device would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rupt_guard.choices import CheckSource, Decision, Reason
from rupt_guard.gate.mark import mark_passed
from rupt_guard.gate.notifications import not_me_token
from rupt_guard.models import Device, LoginCheck
from rupt_guard.testing import login_verified
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust import enrolment

from .conftest import CHROMIUM, PASSWORD, chromium
from .dashboard_data import seed as seed_dashboard

if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page

from .test_passkeys import SoftAuthenticator, credential_for

pytestmark = [
    pytest.mark.browser,
    # live_server asks for the transactional database by itself; said here for the reader.
    pytest.mark.django_db(transaction=True),
]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "390px": {"width": 390, "height": 844}}
FAILING_IMPACTS = ("serious", "critical")
AXE = Axe()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@dataclass
class Site:
    """The live server, one browser profile on it, and alice's account."""

    url: str
    page: Page
    user: object
    rupt: object
    settings: object

    def go(self, path: str, status: int = 200) -> None:
        response = self.page.goto(f"{self.url}{path}")
        assert response is not None
        assert response.status == status, f"{path}: {response.status}"
        self.settle()

    def settle(self) -> None:
        # The passkey scripts are modules that fill their placeholders once loaded.
        self.page.wait_for_load_state("networkidle")

    def submit(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)
        self.settle()

    def use_session_of(self, client: Client) -> None:
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
        self.page.context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": self.url}]
        )

    def sign_in_verified(self, user=None, *, recent: bool = False, device=None) -> None:
        """Signed in and past the gate; ``recent``: a factor verified just now (a step-up)."""
        client = Client()
        login_verified(client, user or self.user)
        session = client.session
        mark_passed(session, device=getattr(device, "pk", None), factor=recent)
        session.save()
        self.use_session_of(client)

    def sign_in_pending(self, device: str = "phone") -> LoginCheck:
        """Through the login form, from a device Rupt has not seen verified: challenged."""
        client = Client()
        response = client.post(
            "/accounts/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "rupt_identification": self.rupt.identify(device),
            },
        )
        assert response.status_code == 302
        # The login view sends it on; the gate sends it to the challenge.
        follow = client.get(response["Location"])
        assert follow.status_code == 302
        assert follow["Location"].startswith("/rupt-guard/challenge/"), follow["Location"]
        self.use_session_of(client)
        return LoginCheck.objects.filter(user=self.user).latest("pk")


@pytest.fixture
def site(browser, live_server, settings, rupt_server, user, request) -> Iterator[Site]:
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    width = request.node.callspec.params["width"]
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield Site(live_server.url, page, user, rupt_server, settings)
    finally:
        context.close()


# Alice's factors, as each case needs them.


def add_app(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Pixel 8", confirmed=True)


def add_backup_codes(user) -> None:
    enrolment.regenerate_backup_codes(user)


def add_passkey(user) -> None:
    credential_for(user, SoftAuthenticator())


def devices_of(user) -> list[Device]:
    now = timezone.now()
    rows = [
        Device.objects.create(
            user=user,
            external_id="laptop",
            label="Firefox on Linux",
            last_ip="192.0.2.10",
            verified_at=now,
        ),
        Device.objects.create(
            user=user,
            external_id="phone",
            label="Safari on iOS",
            last_ip="198.51.100.7",
            last_seen_at=now - timedelta(days=3),
            verified_at=now - timedelta(days=30),
        ),
        Device.objects.create(
            user=user,
            external_id="unknown",
            label="",
            last_ip="203.0.113.99",
            last_seen_at=now - timedelta(hours=2),
        ),
    ]
    device_actions.block(rows[2], reason="test")
    return rows


# The cases: each brings site.page to the state axe looks at.


def challenge_email_only(site: Site) -> None:
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")


def challenge_email_sent(site: Site) -> None:
    """The code field, once the email went out (on arrival, or asked for)."""
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")
    if not site.page.is_visible("#id_otp_token"):
        site.submit("button[name=otp_challenge]")
    assert site.page.is_visible("#id_otp_token")


def challenge_cooldown(site: Site) -> None:
    """A new code asked for too soon: the time left is said."""
    challenge_email_sent(site)
    site.submit("button[name=otp_challenge]")
    assert site.page.is_visible(".rupt-guard-notice[role=status]")


def challenge_send_failed(site: Site) -> None:
    """The mail server is down: said in plain words, another way offered."""
    site.settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    site.settings.EMAIL_HOST, site.settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens
    site.settings.EMAIL_TIMEOUT = 1
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")
    if not site.page.is_visible("[role=alert]"):
        site.submit("button[name=otp_challenge]")
    assert site.page.is_visible("[role=alert]")


def challenge_app_and_backup_codes(site: Site) -> None:
    add_app(site.user)
    add_backup_codes(site.user)
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")


def challenge_other_method(site: Site) -> None:
    """The method chooser: a backup code instead of the app."""
    challenge_app_and_backup_codes(site)
    site.submit(".rupt-guard-methods a >> nth=-1")
    assert site.page.is_visible("#id_otp_token")


def challenge_passkey(site: Site) -> None:
    add_passkey(site.user)
    add_app(site.user)
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")
    site.page.wait_for_selector("#passkey-verification-button, .rupt-guard-passkey p")


def challenge_wrong_code(site: Site) -> None:
    add_app(site.user)
    site.sign_in_pending()
    site.go("/rupt-guard/challenge/")
    site.page.fill("#id_otp_token", "000000")
    with site.page.expect_navigation():
        site.page.press("#id_otp_token", "Enter")
    site.settle()


def step_up(site: Site) -> None:
    site.sign_in_verified()
    site.go("/rupt-guard/confirm/?next=/private/")


def reauthenticate(site: Site) -> None:
    site.sign_in_verified()
    site.go("/rupt-guard/security/confirm/?next=/rupt-guard/security/")


def reauthenticate_code_sent(site: Site) -> None:
    reauthenticate(site)
    if not site.page.is_visible("#id_otp_token"):
        site.submit("button[name=otp_challenge]")
    assert site.page.is_visible("#id_otp_token")


def reauthenticate_with_factors(site: Site) -> None:
    add_passkey(site.user)
    add_app(site.user)
    add_backup_codes(site.user)
    site.sign_in_verified()
    site.go("/rupt-guard/security/confirm/?next=/rupt-guard/security/")
    site.page.wait_for_selector("#passkey-verification-button, .rupt-guard-passkey p")


def security_no_factors(site: Site) -> None:
    site.sign_in_verified()
    site.go("/rupt-guard/security/")


def security_no_factor_at_all(site: Site) -> None:
    get_user_model().objects.filter(pk=site.user.pk).update(email="")
    site.sign_in_verified()
    site.go("/rupt-guard/security/")


def security_with_factors(site: Site) -> None:
    add_passkey(site.user)
    add_app(site.user)
    add_backup_codes(site.user)
    devices_of(site.user)
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/")
    site.page.wait_for_selector("#passkey-register-button, .rupt-guard-passkey p")


def security_after_a_change(site: Site) -> None:
    """A message at the top of the page (here: a factor was removed)."""
    app = add_app(site.user)
    add_backup_codes(site.user)
    site.sign_in_verified(recent=True)
    site.go(f"/rupt-guard/security/factors/{app.persistent_id}/remove/")
    site.submit("button[type=submit]")
    assert site.page.is_visible(".rupt-guard-messages")


def totp_setup(site: Site) -> None:
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/app/")


def totp_setup_wrong_code(site: Site) -> None:
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/app/")
    site.page.fill("#id_otp_token", "000000")
    site.submit("form button[type=submit]")


def totp_setup_no_name(site: Site) -> None:
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/app/")
    site.page.fill("#id_name", " ")  # past the browser's "required", not Django's
    site.page.fill("#id_otp_token", "000000")
    site.submit("form button[type=submit]")
    assert site.page.get_attribute("#id_name", "aria-invalid") == "true"


def backup_codes_before(site: Site) -> None:
    add_app(site.user)
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/backup-codes/")


def backup_codes_after(site: Site) -> None:
    add_app(site.user)
    site.sign_in_verified(recent=True)
    site.go("/rupt-guard/security/backup-codes/")
    site.submit("form button[type=submit]")
    assert site.page.locator("[data-rupt-guard-codes] code").count() > 0


def factor_remove(site: Site) -> None:
    app = add_app(site.user)
    add_backup_codes(site.user)
    site.sign_in_verified(recent=True)
    site.go(f"/rupt-guard/security/factors/{app.persistent_id}/remove/")


def factor_remove_last(site: Site) -> None:
    app = add_app(site.user)
    site.sign_in_verified(recent=True)
    site.go(f"/rupt-guard/security/factors/{app.persistent_id}/remove/")


def devices(site: Site) -> None:
    current, *_ = devices_of(site.user)
    site.sign_in_verified(device=current)
    site.go("/rupt-guard/devices/")


def device_revoke(site: Site) -> None:
    current, other, _ = devices_of(site.user)
    site.sign_in_verified(device=current)
    site.go(f"/rupt-guard/devices/{other.pk}/revoke/")


def device_revoke_current(site: Site) -> None:
    current, *_ = devices_of(site.user)
    site.sign_in_verified(device=current)
    site.go(f"/rupt-guard/devices/{current.pk}/revoke/")


def device_block(site: Site) -> None:
    current, other, _ = devices_of(site.user)
    site.sign_in_verified(device=current)
    site.go(reverse("rupt_guard:device_block", args=[other.pk]))


def device_unblock(site: Site) -> None:
    current, _, blocked = devices_of(site.user)
    site.sign_in_verified(device=current)
    site.go(reverse("rupt_guard:device_unblock", args=[blocked.pk]))


def devices_paged(site: Site) -> None:
    """Many devices: the second page of the list, with its page links."""
    current, *_ = devices_of(site.user)
    now = timezone.now()
    Device.objects.bulk_create(
        Device(
            user=site.user,
            external_id=f"old-{n}",
            label=f"Firefox {100 + n} on Windows",
            last_ip=f"192.0.2.{n}",
            last_seen_at=now - timedelta(days=n),
            verified_at=now - timedelta(days=n + 30),
        )
        for n in range(1, 60)
    )
    site.sign_in_verified(device=current)
    site.go("/rupt-guard/devices/?page=2")


def not_me(site: Site) -> None:
    check = site.sign_in_pending()
    site.page.context.clear_cookies()  # the owner reads the email elsewhere
    site.go(f"/rupt-guard/not-me/{not_me_token(check)}/")


def not_me_done(site: Site) -> None:
    not_me(site)
    site.submit("form button[type=submit]")


def not_me_invalid(site: Site) -> None:
    site.go("/rupt-guard/not-me/not-a-valid-token/", status=400)


def sign_in_staff(site: Site) -> None:
    staff = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    site.sign_in_pending("tablet")  # a login check, and a new device of alice
    for device in devices_of(site.user):
        LoginCheck.objects.create(
            user=site.user,
            device=device,
            source=CheckSource.FORM,
            decision=Decision.CHALLENGE,
            reason=Reason.NEW_DEVICE,
            ip=device.last_ip,
        )
    LoginCheck.objects.create(
        user=site.user,
        source=CheckSource.FORM,
        decision=Decision.CHALLENGE,
        reason=Reason.MISSING_TOKEN,
    )
    site.page.context.clear_cookies()
    site.sign_in_verified(staff)


def admin_devices(site: Site) -> None:
    sign_in_staff(site)
    site.go("/admin/rupt_guard/device/")


def admin_device(site: Site) -> None:
    sign_in_staff(site)
    site.go(f"/admin/rupt_guard/device/{Device.objects.latest('pk').pk}/change/")


def admin_login_checks(site: Site) -> None:
    sign_in_staff(site)
    site.go("/admin/rupt_guard/logincheck/")


def admin_trust_events(site: Site) -> None:
    sign_in_staff(site)
    site.go("/admin/rupt_guard/trustevent/")


def admin_dashboard(site: Site) -> None:
    sign_in_staff(site)
    seed_dashboard(site.user)
    site.go("/admin/rupt_guard/dashboard/?period=30d")


def admin_action_reason(site: Site) -> None:
    sign_in_staff(site)
    site.go("/admin/rupt_guard/device/")
    site.page.locator("input[name=_selected_action]").first.check()
    site.page.select_option("select[name=action]", "block")
    site.submit("button[name=index]")
    assert "/admin/rupt_guard/device/" in site.page.url
    assert site.page.is_visible("textarea[name=reason]")


def admin_action_reason_missing(site: Site) -> None:
    """The reason page again, with its "required" error."""
    admin_action_reason(site)
    site.page.fill("textarea[name=reason]", " ")  # past the browser's "required", not Django's
    site.submit(".submit-row input[type=submit]")
    assert site.page.is_visible(".errorlist")


CASES: dict[str, Callable[[Site], None]] = {
    "challenge-email-only": challenge_email_only,
    "challenge-email-sent": challenge_email_sent,
    "challenge-cooldown": challenge_cooldown,
    "challenge-send-failed": challenge_send_failed,
    "challenge-app-and-backup-codes": challenge_app_and_backup_codes,
    "challenge-other-method": challenge_other_method,
    "challenge-passkey": challenge_passkey,
    "challenge-wrong-code": challenge_wrong_code,
    "step-up": step_up,
    "reauthenticate": reauthenticate,
    "reauthenticate-code-sent": reauthenticate_code_sent,
    "reauthenticate-with-factors": reauthenticate_with_factors,
    "security-no-factors": security_no_factors,
    "security-no-factor-at-all": security_no_factor_at_all,
    "security-with-factors": security_with_factors,
    "security-after-a-change": security_after_a_change,
    "totp-setup": totp_setup,
    "totp-setup-wrong-code": totp_setup_wrong_code,
    "totp-setup-no-name": totp_setup_no_name,
    "backup-codes-before": backup_codes_before,
    "backup-codes-after": backup_codes_after,
    "factor-remove": factor_remove,
    "factor-remove-last": factor_remove_last,
    "devices": devices,
    "device-revoke": device_revoke,
    "device-revoke-current": device_revoke_current,
    "device-block": device_block,
    "device-unblock": device_unblock,
    "devices-paged": devices_paged,
    "not-me": not_me,
    "not-me-done": not_me_done,
    "not-me-invalid": not_me_invalid,
    "admin-devices": admin_devices,
    "admin-device": admin_device,
    "admin-login-checks": admin_login_checks,
    "admin-trust-events": admin_trust_events,
    "admin-dashboard": admin_dashboard,
    "admin-action-reason": admin_action_reason,
    "admin-action-reason-missing": admin_action_reason_missing,
}

# Known violations: (case, width or None for both) -> what axe reports, each an xfail
# (strict: the mark must go once the page is fixed). None left; the admin lists' search box
# comes from rupt_guard/admin/search_form.html (admin/rupt_guard/search_form.html).
KNOWN: dict[tuple[str, str | None], str] = {}


def known(case: str, width: str) -> list[pytest.MarkDecorator]:
    reason = KNOWN.get((case, width)) or KNOWN.get((case, None))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


# axe-core leaves an aria-describedby naming a missing id "to review" (Django's widgets name
# <field id>_helptext and <field id>_error, which a hand-written template must provide): the
# hint or the error is then never read out. Checked here, as one more serious violation.
MISSING_REFERENCES = """() => {
  const missing = [];
  for (const el of document.querySelectorAll(
      "[aria-describedby], [aria-labelledby], [aria-errormessage], [aria-controls], label[for]")) {
    for (const attr of ["aria-describedby", "aria-labelledby", "aria-errormessage",
                        "aria-controls", "for"]) {
      for (const id of (el.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) missing.push({attr, id, html: el.outerHTML});
      }
    }
  }
  return missing;
}"""


def serious_violations(page: Page) -> list[dict]:
    results = AXE.run(page)
    violations = [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]
    missing = page.evaluate(MISSING_REFERENCES)
    if missing:
        violations.append(
            {
                "id": "missing-id-reference",
                "impact": "serious",
                "help": "ARIA and label references must name an element of the page",
                "helpUrl": "https://www.w3.org/TR/wai-aria-1.2/#valuetype_idref_list",
                "nodes": [
                    {"target": [f"[{m['attr']}] -> #{m['id']}"], "html": m["html"]} for m in missing
                ],
            }
        )
    return violations


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{violation['helpUrl']}]"
        )
        for node in violation["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("case", "width"),
    [
        pytest.param(case, width, id=f"{case}-{width}", marks=known(case, width))
        for case in CASES
        for width in WIDTHS
    ],
)
def test_no_serious_or_critical_violation(site, case, width):
    CASES[case](site)
    violations = serious_violations(site.page)
    assert not violations, f"{site.page.url}\n{describe(violations)}"


def test_axe_reports_what_it_should(browser):
    """axe-core is loaded and judged as the cases expect: an unlabelled field is critical."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<!doctype html><html lang="en"><title>t</title><main><h1>t</h1>'
            "<form><input type=text name=q></form></main></html>"
        )
        assert [v["id"] for v in serious_violations(page)] == ["label"]
        page.set_content(
            '<!doctype html><html lang="en"><title>t</title><main><h1>t</h1><form>'
            '<label for="q">Code</label><input id="q" aria-describedby="q_helptext">'
            "</form></main></html>"
        )
        assert [v["id"] for v in serious_violations(page)] == ["missing-id-reference"]
    finally:
        context.close()
