"""Staff login: hashed passwords, CSRF-protected form, throttling, roles."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length, Regexp

from portal.extensions import db, login_manager
from portal.models import LoginAttempt, Role, StaffUser, audit, utcnow
from portal.security import safe_next

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()
# A fixed hash to verify against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


MIN_PASSWORD_LENGTH = 12
# The most common passwords of 12+ characters in public breach lists, plus our own names.
# Compared lowercased; a small list, not a breach corpus: it stops the first guesses.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012", "1234567890123", "12345678901234", "123456123456", "111111111111",
        "000000000000", "123123123123", "password1234", "password12345", "password123456",
        "passwordpassword", "qwertyuiop12", "qwertyuiopasdf", "qwerty123456", "1q2w3e4r5t6y",
        "1qaz2wsx3edc", "zaq12wsxcde3", "iloveyou1234", "letmein12345", "welcome12345",
        "administrator", "administrator1", "changeme1234", "trustno11234", "abc123abc123",
        "abcdefghijkl", "asdfghjklasdf", "correcthorsebatterystaple",
        "correct horse battery staple",
        "bindobindo12", "bindo1234567", "bigcommerce1", "bigcommerce123", "bigcommerce1234",
        "football1234", "baseball1234", "superman1234", "princess1234", "sunshine1234",
    }
)  # fmt: skip
SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused, in a sentence, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"use at least {MIN_PASSWORD_LENGTH} characters"
    if "\x00" in password:
        return "a password cannot contain a NUL character"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "this password is on the list of common passwords"
    if len(set(lowered)) < 5:
        return "use more different characters (this password is too repetitive)"
    # "abcabcabcabc": the whole password is one short unit repeated.
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            return "this password is a short pattern repeated"
    if any(lowered in seq or lowered in seq[::-1] for seq in SEQUENCES):
        return "this password is a keyboard or alphabet sequence"
    return None


def set_password(user: StaffUser, password: str) -> None:
    """Hash a new password (``password_problem`` must have passed) and end every session."""
    user.password_hash = hash_password(password)
    end_all_sessions(user)


def check_password(user: StaffUser | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


# A session carries the user's session version; logging out or a new password bumps the
# stored one, so every cookie issued before stops working at once (a saved cookie included).
SESSION_VERSION_KEY = "_staff_sv"


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active:
        return None
    if session.get(SESSION_VERSION_KEY) != user.session_version:
        return None
    return user


def end_all_sessions(user: StaffUser) -> None:
    """Revoke every session of ``user`` (the caller commits)."""
    user.session_version = (user.session_version or 0) + 1


# One address, no spaces or control characters, a dot in the domain: enough to refuse junk
# before it reaches a query (the account lookup decides the rest).
EMAIL_SHAPE = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=254), Regexp(EMAIL_SHAPE, message="Not an email.")],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def throttled(email: str, ip: str) -> bool:
    """True when this account or this address failed too often in the window."""
    cfg = current_app.config
    since = utcnow() - timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    failures = select(func.count()).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since
    )
    per_account = db.session.scalar(failures.where(LoginAttempt.email == email)) or 0
    per_ip = db.session.scalar(failures.where(LoginAttempt.ip == ip)) or 0
    limit = cfg["LOGIN_MAX_FAILURES"]
    return per_account >= limit or per_ip >= 3 * limit


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    target = safe_next(request.args.get("next"), url_for("admin.index"))
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        ip = _client_ip()
        if throttled(email, ip):
            # Not recorded: attempts made while locked must not extend the lock, or anyone
            # could keep an account (or a shared address) locked for good.
            return render_template(
                "auth/login.html", form=form, error="Too many attempts. Try again in 15 minutes."
            ), 429
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        ok = check_password(user, form.password.data) and user is not None and user.active
        db.session.add(LoginAttempt(email=email, ip=ip, succeeded=ok))
        if not ok:
            db.session.commit()
            return render_template(
                "auth/login.html", form=form, error="Email or password is not right."
            ), 200
        session.clear()  # a fresh session on login (no fixation)
        login_user(user)
        session[SESSION_VERSION_KEY] = user.session_version
        user.last_login_at = utcnow()
        audit("staff.login", actor_type="staff", actor=user.email)
        db.session.commit()
        return redirect(target)
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit("staff.logout", actor_type="staff", actor=current_user.email)
        end_all_sessions(current_user)
        db.session.commit()
    logout_user()
    session.clear()
    flash("Signed out.")
    return redirect(url_for("auth.login"))


def role_required(role: Role | str):
    """Decorator for plain views: 403 below ``role``; the login page for anonymous users."""

    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return deco
