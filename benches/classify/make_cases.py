#!/usr/bin/env python3
"""Seeded generator of labelled support cases for training and evaluating
`triage train` (issue #20).

No public labelled support corpus is available offline, so this makes one
with the difficulties real mailboxes have:

- 20 categories whose words overlap (billing and cancellation both talk
  about invoices and plans; login and SSO both about passwords), so no
  single word decides;
- four languages (about 70 % English, the rest German, French and Spanish),
  some mails mixing an English subject with a body in another language;
- typos (a letter dropped, doubled or swapped in about 4 % of words);
- quoted earlier mail about *another* topic under a reply, signatures and
  legal footers, greetings and thanks that say nothing;
- label noise: 3 % of cases carry a random category, as agents misfile;
- a priority label (P1..P4) that follows the category and urgency words
  loosely.

Usage: make_cases.py --seed 7 --cases 100000 > cases.jsonl
"""
import argparse
import json
import random

CATS = {
    "refund": {
        "en": ["refund", "money back", "charged twice", "double charge", "reimburse", "refund request", "return the payment", "credit back"],
        "de": ["Rückerstattung", "Geld zurück", "doppelt abgebucht", "erstatten"],
        "fr": ["remboursement", "rembourser", "débité deux fois", "argent"],
        "es": ["reembolso", "devolución", "cobrado dos veces", "dinero"],
    },
    "invoice": {
        "en": ["invoice", "VAT number", "billing address", "invoice copy", "tax id", "purchase order", "receipt", "billing contact"],
        "de": ["Rechnung", "Umsatzsteuer", "Rechnungsadresse", "Beleg"],
        "fr": ["facture", "TVA", "adresse de facturation", "reçu"],
        "es": ["factura", "IVA", "dirección de facturación", "recibo"],
    },
    "payment_failed": {
        "en": ["card declined", "payment failed", "credit card", "expired card", "payment method", "transaction declined", "cannot pay"],
        "de": ["Karte abgelehnt", "Zahlung fehlgeschlagen", "Kreditkarte", "Zahlungsmethode"],
        "fr": ["carte refusée", "paiement échoué", "carte de crédit", "moyen de paiement"],
        "es": ["tarjeta rechazada", "pago fallido", "tarjeta de crédito", "método de pago"],
    },
    "password": {
        "en": ["reset password", "forgot password", "password reset link", "cannot log in", "login page", "wrong password", "reset email"],
        "de": ["Passwort zurücksetzen", "Passwort vergessen", "Anmeldung", "kann mich nicht anmelden"],
        "fr": ["mot de passe oublié", "réinitialiser", "connexion impossible", "identifiant"],
        "es": ["contraseña olvidada", "restablecer contraseña", "no puedo iniciar sesión", "inicio de sesión"],
    },
    "locked": {
        "en": ["account locked", "locked out", "too many attempts", "account suspended", "unlock my account", "disabled account"],
        "de": ["Konto gesperrt", "ausgesperrt", "zu viele Versuche", "entsperren"],
        "fr": ["compte bloqué", "trop de tentatives", "débloquer", "compte suspendu"],
        "es": ["cuenta bloqueada", "demasiados intentos", "desbloquear", "cuenta suspendida"],
    },
    "sso": {
        "en": ["SSO", "SAML", "identity provider", "Okta", "Azure AD", "single sign-on", "SAML assertion", "login redirect"],
        "de": ["Single Sign-On", "Identitätsanbieter", "SAML Fehler", "Anmeldung über Okta"],
        "fr": ["authentification unique", "fournisseur d'identité", "SAML", "Okta"],
        "es": ["inicio de sesión único", "proveedor de identidad", "SAML", "Okta"],
    },
    "api_error": {
        "en": ["API returns 500", "error response", "endpoint", "stack trace", "JSON payload", "status code 400", "webhook error", "request fails"],
        "de": ["API Fehler", "Schnittstelle", "Fehlercode", "Anfrage schlägt fehl"],
        "fr": ["erreur API", "point de terminaison", "code d'erreur", "requête échoue"],
        "es": ["error de API", "punto de acceso", "código de error", "la solicitud falla"],
    },
    "rate_limit": {
        "en": ["rate limit", "429", "too many requests", "throttled", "quota exceeded", "API limit", "requests per minute"],
        "de": ["Ratenbegrenzung", "zu viele Anfragen", "Kontingent überschritten", "API Limit"],
        "fr": ["limite de débit", "trop de requêtes", "quota dépassé", "limite API"],
        "es": ["límite de peticiones", "demasiadas solicitudes", "cuota excedida", "límite de API"],
    },
    "outage": {
        "en": ["site is down", "outage", "service unavailable", "nothing loads", "502 bad gateway", "everyone affected", "down for all users"],
        "de": ["Ausfall", "nicht erreichbar", "Dienst nicht verfügbar", "alle betroffen"],
        "fr": ["panne", "service indisponible", "inaccessible", "tout le monde est touché"],
        "es": ["caída", "servicio no disponible", "no carga nada", "todos afectados"],
    },
    "slow": {
        "en": ["very slow", "takes minutes to load", "performance", "latency", "timeout", "sluggish dashboard", "pages load slowly"],
        "de": ["sehr langsam", "Ladezeit", "Leistung", "Zeitüberschreitung"],
        "fr": ["très lent", "temps de chargement", "performances", "délai d'attente"],
        "es": ["muy lento", "tiempo de carga", "rendimiento", "tiempo de espera"],
    },
    "export": {
        "en": ["export data", "CSV export", "download report", "export all records", "backup of our data", "export is empty"],
        "de": ["Daten exportieren", "CSV Export", "Bericht herunterladen", "Sicherung"],
        "fr": ["exporter les données", "export CSV", "télécharger le rapport", "sauvegarde"],
        "es": ["exportar datos", "exportación CSV", "descargar informe", "copia de seguridad"],
    },
    "import": {
        "en": ["import file", "CSV import", "upload contacts", "import failed", "column mapping", "duplicate rows on import", "bulk upload"],
        "de": ["Datei importieren", "CSV Import", "Kontakte hochladen", "Import fehlgeschlagen"],
        "fr": ["importer le fichier", "import CSV", "importer des contacts", "échec de l'import"],
        "es": ["importar archivo", "importación CSV", "subir contactos", "importación fallida"],
    },
    "slack": {
        "en": ["Slack integration", "Slack channel", "Slack notifications", "connect Slack", "Slack app", "messages not posted to Slack"],
        "de": ["Slack Integration", "Slack Kanal", "Slack verbinden"],
        "fr": ["intégration Slack", "canal Slack", "connecter Slack"],
        "es": ["integración con Slack", "canal de Slack", "conectar Slack"],
    },
    "salesforce": {
        "en": ["Salesforce sync", "Salesforce integration", "CRM sync", "opportunities not syncing", "Salesforce fields", "sync error"],
        "de": ["Salesforce Synchronisierung", "CRM Abgleich", "Salesforce Felder"],
        "fr": ["synchronisation Salesforce", "CRM", "champs Salesforce"],
        "es": ["sincronización con Salesforce", "CRM", "campos de Salesforce"],
    },
    "mobile": {
        "en": ["mobile app crashes", "iPhone app", "Android app", "app closes", "crash on startup", "app store version", "tablet"],
        "de": ["App stürzt ab", "iPhone App", "Android App", "mobile Anwendung"],
        "fr": ["l'application plante", "application iPhone", "application Android", "mobile"],
        "es": ["la aplicación se cierra", "aplicación de iPhone", "aplicación de Android", "móvil"],
    },
    "email_notifications": {
        "en": ["email notifications", "not receiving emails", "spam folder", "notification settings", "email alerts", "unsubscribe"],
        "de": ["E-Mail Benachrichtigungen", "keine E-Mails", "Spam Ordner", "Benachrichtigungseinstellungen"],
        "fr": ["notifications par e-mail", "je ne reçois pas", "dossier spam", "alertes"],
        "es": ["notificaciones por correo", "no recibo correos", "carpeta de spam", "alertas"],
    },
    "feature_request": {
        "en": ["feature request", "would be great if", "suggestion", "please add", "wish list", "roadmap", "could you support"],
        "de": ["Funktionswunsch", "Vorschlag", "wäre schön", "bitte hinzufügen"],
        "fr": ["demande de fonctionnalité", "suggestion", "ce serait bien", "feuille de route"],
        "es": ["solicitud de función", "sugerencia", "sería genial", "hoja de ruta"],
    },
    "security": {
        "en": ["security vulnerability", "phishing", "suspicious login", "XSS", "data breach", "compromised", "responsible disclosure"],
        "de": ["Sicherheitslücke", "Phishing", "verdächtige Anmeldung", "Datenleck"],
        "fr": ["faille de sécurité", "hameçonnage", "connexion suspecte", "fuite de données"],
        "es": ["vulnerabilidad", "phishing", "inicio de sesión sospechoso", "filtración de datos"],
    },
    "cancellation": {
        "en": ["cancel subscription", "cancel my plan", "close my account", "terminate contract", "downgrade plan", "stop renewal"],
        "de": ["Abo kündigen", "Vertrag kündigen", "Konto schließen", "Kündigung"],
        "fr": ["résilier l'abonnement", "annuler mon abonnement", "fermer mon compte", "résiliation"],
        "es": ["cancelar suscripción", "cancelar mi plan", "cerrar mi cuenta", "baja"],
    },
    "onboarding": {
        "en": ["getting started", "new user", "set up workspace", "training session", "how do I start", "invite my team", "onboarding call"],
        "de": ["erste Schritte", "neuer Nutzer", "Arbeitsbereich einrichten", "Schulung"],
        "fr": ["premiers pas", "nouvel utilisateur", "configurer l'espace", "formation"],
        "es": ["primeros pasos", "nuevo usuario", "configurar el espacio", "formación"],
    },
}

# Words many categories share: they make the classes overlap.
SHARED = {
    "en": ["account", "invoice", "plan", "login", "data", "error", "users", "dashboard", "settings", "email", "team", "subscription", "app", "report", "integration", "payment", "access"],
    "de": ["Konto", "Rechnung", "Tarif", "Fehler", "Benutzer", "Einstellungen", "Team", "Daten"],
    "fr": ["compte", "facture", "forfait", "erreur", "utilisateurs", "paramètres", "équipe", "données"],
    "es": ["cuenta", "factura", "plan", "error", "usuarios", "configuración", "equipo", "datos"],
}
# Categories whose words leak into each other's mail.
NEAR = {
    "refund": ["invoice", "cancellation", "payment_failed"], "invoice": ["refund", "payment_failed"],
    "payment_failed": ["invoice", "refund"], "password": ["locked", "sso"], "locked": ["password", "security"],
    "sso": ["password", "locked"], "api_error": ["rate_limit", "outage"], "rate_limit": ["api_error", "slow"],
    "outage": ["slow", "api_error"], "slow": ["outage", "mobile"], "export": ["import", "salesforce"],
    "import": ["export", "salesforce"], "slack": ["email_notifications", "salesforce"],
    "salesforce": ["import", "slack"], "mobile": ["slow", "email_notifications"],
    "email_notifications": ["slack", "mobile"], "feature_request": ["export", "slack"],
    "security": ["locked", "password"], "cancellation": ["refund", "invoice"],
    "onboarding": ["feature_request", "sso"],
}
FRAMES = {
    "en": {
        "greet": ["Hi,", "Hello team,", "Dear support,", "Hey there,", "Good morning,", ""],
        "open": ["I have a problem:", "We noticed that", "Since yesterday", "Quick question about", "Our admin reports", "Please help with", "Following up on"],
        "glue": ["and also", "plus", "because of", "after", "when we try", "regarding", "together with", "while"],
        "close": ["Thanks!", "Regards,", "Best,", "Cheers,", "Thank you in advance.", "Kind regards,"],
        "urgent": ["urgent", "asap", "critical", "immediately", "blocking our business"],
        "quote": "On Mon, 3 Mar 2025 at 10:14, Support <support@example.com> wrote:",
    },
    "de": {
        "greet": ["Hallo,", "Guten Tag,", "Liebes Support-Team,", ""],
        "open": ["Ich habe ein Problem:", "Seit gestern", "Wir haben bemerkt, dass", "Bitte helfen Sie bei"],
        "glue": ["und", "außerdem", "wegen", "nachdem", "bei"],
        "close": ["Danke!", "Viele Grüße,", "Mit freundlichen Grüßen,"],
        "urgent": ["dringend", "sofort", "kritisch"],
        "quote": "Am 03.03.2025 um 10:14 schrieb Support <support@example.com>:",
    },
    "fr": {
        "greet": ["Bonjour,", "Madame, Monsieur,", "Salut,", ""],
        "open": ["J'ai un problème :", "Depuis hier", "Nous avons remarqué que", "Pouvez-vous m'aider avec"],
        "glue": ["et", "aussi", "à cause de", "après", "avec"],
        "close": ["Merci !", "Cordialement,", "Bien à vous,"],
        "urgent": ["urgent", "immédiatement", "critique"],
        "quote": "Le lun. 3 mars 2025 à 10:14, Support <support@example.com> a écrit :",
    },
    "es": {
        "greet": ["Hola,", "Buenos días,", "Estimado soporte,", ""],
        "open": ["Tengo un problema:", "Desde ayer", "Hemos notado que", "Necesito ayuda con"],
        "glue": ["y", "además", "por", "después de", "con"],
        "close": ["¡Gracias!", "Saludos,", "Atentamente,"],
        "urgent": ["urgente", "inmediatamente", "crítico"],
        "quote": "El lun, 3 mar 2025 a las 10:14, Support <support@example.com> escribió:",
    },
}
NAMES = ["Anna Schmidt", "John Miller", "Marie Dubois", "Carlos García", "Priya Patel", "Li Wei", "Sara Rossi", "Tom Baker"]
FOOTER = "This e-mail and any attachments are confidential and intended solely for the addressee."
BASE_PRIORITY = {"outage": 1, "security": 1, "payment_failed": 2, "locked": 2, "api_error": 2, "sso": 2,
                 "rate_limit": 3, "slow": 3, "refund": 3, "password": 3, "mobile": 3, "import": 3, "export": 3,
                 "salesforce": 3, "slack": 3, "email_notifications": 3, "invoice": 4, "cancellation": 3,
                 "feature_request": 4, "onboarding": 4}


def typo(rng, word):
    if len(word) < 4 or rng.random() > 0.04:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def noisy(rng, text):
    return " ".join(typo(rng, w) for w in text.split(" "))


def phrases(rng, cat, lang, n):
    pool = CATS[cat][lang]
    return [rng.choice(pool) for _ in range(n)]


def body_of(rng, cat, lang, urgent):
    f = FRAMES[lang]
    parts = [rng.choice(f["greet"]), rng.choice(f["open"])]
    own = phrases(rng, cat, lang, rng.randint(1, 3))
    # Words of a neighbouring category and of every category.
    if rng.random() < 0.6:
        own += phrases(rng, rng.choice(NEAR[cat]), lang, 1)
    own += [rng.choice(SHARED[lang]) for _ in range(rng.randint(1, 4))]
    rng.shuffle(own)
    sentence = []
    for i, p in enumerate(own):
        if i:
            sentence.append(rng.choice(f["glue"]))
        sentence.append(p)
    parts.append(" ".join(sentence) + ".")
    if urgent:
        parts.append(rng.choice(f["urgent"]).capitalize() + ".")
    parts.append(rng.choice(f["close"]))
    text = noisy(rng, " ".join(p for p in parts if p))
    name = rng.choice(NAMES)
    text += f"\n{name}"
    if rng.random() < 0.3:
        text += f"\n-- \n{name}\nExample GmbH | +49 30 1234567\n{FOOTER}"
    if rng.random() < 0.25:
        # A reply quoting an earlier mail about something else.
        other = rng.choice(list(CATS))
        quoted = " ".join(phrases(rng, other, "en", 3))
        text += f"\n\n{f['quote']}\n> {quoted}\n> Best, Support"
    return text


def subject_of(rng, cat, lang):
    lang = "en" if rng.random() < 0.3 else lang
    words = phrases(rng, cat, lang, 1)
    if rng.random() < 0.3:
        words.append(rng.choice(SHARED[lang]))
    prefix = rng.choice(["", "", "", "Re: ", "Fwd: ", "AW: "])
    return noisy(rng, prefix + " ".join(words))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--noise", type=float, default=0.03)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cats = list(CATS)
    out = []
    for i in range(a.cases):
        cat = rng.choice(cats)
        lang = rng.choices(["en", "de", "fr", "es"], weights=[70, 10, 10, 10])[0]
        urgent = rng.random() < 0.15
        subject = subject_of(rng, cat, lang)
        body = body_of(rng, cat, lang, urgent)
        label = rng.choice(cats) if rng.random() < a.noise else cat
        p = BASE_PRIORITY[cat] - (1 if urgent else 0) + (1 if rng.random() < 0.1 else 0)
        p = min(4, max(1, p))
        out.append(json.dumps({
            "id": f"T-{i + 1:06d}",
            "subject": subject,
            "body": body,
            "requester": {"email": f"user{rng.randrange(5000)}@example.com", "language": lang} if rng.random() < 0.5 else {"email": f"user{rng.randrange(5000)}@example.com"},
            "category": label,
            "priority": f"P{p}",
            "language": lang,
        }, ensure_ascii=False))
    print("\n".join(out))


if __name__ == "__main__":
    main()
