"""``hub leads form-snippet``: the HTML form a marketer pastes into a landing page.

The form posts to ``POST /leads`` as a plain browser form (``application/x-www-form-urlencoded``) with:
the lead fields; the honeypot ``website``, hidden from people (a bot that fills it is quarantined);
``form_rendered_at`` (unix seconds when the page rendered the form) and ``form_elapsed_ms`` (how long the
visitor took, measured by the page), which the spam check reads (``leads_webhook.spam``: a form sent
faster than ``spam.min_fill_seconds`` is quarantined); the campaign's source; and the hidden
``return_url`` the hub sends the visitor to after the post (``303 See Other``), when it is on an origin
of ``cors.allowed_origins`` in config/leads.yaml (otherwise the visitor sees the hub's thank-you page).
"""

from __future__ import annotations

from html import escape

from shared.config_schemas.leads import LeadsConfig

FIELDS: tuple[tuple[str, str, str], ...] = (
    # name, label, input attributes
    ("email", "Work email", 'type="email" required maxlength="254" autocomplete="email"'),
    ("first_name", "First name", 'maxlength="100" autocomplete="given-name"'),
    ("last_name", "Last name", 'maxlength="100" autocomplete="family-name"'),
    ("company", "Company", 'maxlength="200" autocomplete="organization"'),
    ("title", "Job title", 'maxlength="150" autocomplete="organization-title"'),
    ("phone", "Phone", 'type="tel" maxlength="40" autocomplete="tel"'),
    ("country", "Country", 'maxlength="80" autocomplete="country-name"'),
)
RETURN_URL_PLACEHOLDER = "https://www.example.com/thank-you"


def form_snippet(
    api_url: str,
    *,
    source: str | None = None,
    campaign: str | None = None,
    return_url: str | None = None,
) -> str:
    """The snippet; every value is escaped for an HTML attribute."""
    action = api_url.rstrip("/") + "/leads"
    inputs = "\n".join(
        f'  <p><label for="hub-{name}">{escape(label)}</label><br>\n'
        f'     <input id="hub-{name}" name="{name}" {attributes}></p>'
        for name, label, attributes in FIELDS
    )
    hidden = [
        ("form_rendered_at", ""),
        ("form_elapsed_ms", ""),
        ("return_url", return_url or RETURN_URL_PLACEHOLDER),
    ]
    if source:
        hidden.append(("utm_source", source))
    if campaign:
        hidden.append(("campaign", campaign))
    hidden_inputs = "\n".join(
        f'  <input type="hidden" name="{name}" value="{escape(value, quote=True)}">' for name, value in hidden
    )
    return f"""<!-- Lead form: posts to the hub's POST /leads. Paste it into your landing page as it is.
     return_url: where the visitor goes after sending (303); it must be on an origin listed in
     config/leads.yaml (cors.allowed_origins), else the visitor sees the hub's own thank-you page. -->
<form class="hub-lead-form" method="post" action="{escape(action, quote=True)}" accept-charset="UTF-8">
{inputs}
  <p><label for="hub-message">Message</label><br>
     <textarea id="hub-message" name="message" rows="4" maxlength="5000"></textarea></p>
  <p><label><input type="checkbox" name="marketing_opt_in" value="on"> Send me product news</label></p>
  <!-- Spam checks, leave as they are: a field people never see (bots fill it in) and the form's timing. -->
  <div style="position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden" aria-hidden="true">
    <label for="hub-website">Website</label><input id="hub-website" name="website" tabindex="-1" autocomplete="off">
  </div>
{hidden_inputs}
  <p><button type="submit">Send</button></p>
</form>
<script>
(function (form) {{
  var started = Date.now();
  form.elements.form_rendered_at.value = Math.floor(started / 1000);
  form.addEventListener("submit", function () {{
    form.elements.form_elapsed_ms.value = Date.now() - started;
  }});
}})(document.currentScript.previousElementSibling);
</script>
"""


def return_url_problem(return_url: str | None, config: LeadsConfig) -> str | None:
    """Why the hub would not follow `return_url` (None when it would)."""
    if return_url is None:
        return "no --return-url given: replace the placeholder with your thank-you page"
    if not config.cors.allows_return_url(return_url):
        allowed = ", ".join(config.cors.allowed_origins) or "none"
        return (
            f"{return_url} is not on an allowed origin (cors.allowed_origins: {allowed}); "
            "visitors would see the hub's thank-you page instead"
        )
    return None
