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
from wtforms.validators import DataRequired, Length

from portal.extensions import db, login_manager
from portal.models import LoginAttempt, Role, StaffUser, audit, utcnow
from portal.security import safe_next

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()
# A fixed hash to verify against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: StaffUser | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
    return user if user and user.active else None


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
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
            db.session.add(LoginAttempt(email=email, ip=ip, succeeded=False))
            db.session.commit()
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
        user.last_login_at = utcnow()
        audit("staff.login", actor_type="staff", actor=user.email)
        db.session.commit()
        return redirect(target)
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit("staff.logout", actor_type="staff", actor=current_user.email)
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
