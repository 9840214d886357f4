"""Admin: the team server's users and roles, and the audit log (view and download). Admins only.

User names and log entries are user text: shown in tables and plain text, never as Markdown.
"""

from __future__ import annotations

import streamlit as st

from app import auth
from app.ui import explained, stop
from journeys.auth import audit, users
from journeys.auth.roles import ROLES

AUDIT_SHOWN = 1_000

st.title("Admin")
if not auth.allowed("manage_users"):
    st.error(f"Your role ({auth.current().role}) cannot manage this server; an admin can.")
    stop()
me = auth.current()
if me.mode == "local":
    st.caption("This dashboard runs locally without sign-in. The users below sign in once it is started with "
               "`journeys serve --team` (see the README, Running a team server).")

st.subheader("Users")
found = users.list_users()
st.dataframe([{"name": u.name, "role": u.role, "signs in with": "password" if u.has_password else "identity provider",
               "since": u.created} for u in found], hide_index=True, key="admin_users")
with st.form("admin_add", clear_on_submit=True):
    st.markdown("**Add a user**")
    a, b, c = st.columns(3)
    name = a.text_input("Name (or e-mail for the identity provider)", key="admin_new_name")
    role = b.selectbox("Role", ROLES, key="admin_new_role")
    password = c.text_input(f"Password (at least {users.MIN_PASSWORD} characters; empty: identity provider only)",
                            type="password", key="admin_new_password")
    if st.form_submit_button("Add user", type="primary"):
        with explained():
            user = users.add_user(name, role, password or None)
            audit.record("user_added", user.name, user=me.name, detail={"role": user.role})
            st.success(f"Added {user.name} ({user.role}).")
            st.rerun()
if found:
    left, right = st.columns(2)
    target = left.selectbox("User", [u.name for u in found], key="admin_target")
    new_role = left.selectbox("New role", ROLES, key="admin_role")
    if left.button("Change role", key="admin_change"):
        with explained():
            users.set_role(target, new_role)
            audit.record("user_changed", target, user=me.name, detail={"role": new_role})
            st.rerun()
    sure = right.checkbox("Yes, remove this user", key="admin_sure")
    if right.button("Remove user", key="admin_remove", disabled=not sure):
        with explained():
            users.remove_user(target)
            audit.record("user_removed", target, user=me.name)
            st.rerun()

st.subheader("Audit log")
st.caption("Customer-list downloads, audience pushes, dataset deletions, sign-ins and user and sharing changes.")
f1, f2 = st.columns(2)
who = f1.selectbox("User", ["(all)", *sorted({u.name for u in found})], key="audit_user")
what = f2.selectbox("Action", ["(all)", *audit.ACTIONS], key="audit_action")
entries = audit.entries(user=None if who == "(all)" else who, action=None if what == "(all)" else what)
if not entries:
    st.info("No entries match.", icon="ℹ️")
else:
    if len(entries) > AUDIT_SHOWN:
        st.caption(f"Showing the newest {AUDIT_SHOWN:,} of {len(entries):,} entries; the download has them all.")
    st.dataframe(audit.frame(entries[:AUDIT_SHOWN]), hide_index=True, key="audit_table")
    st.download_button(f"Download the audit log ({len(entries):,} entries)", data=lambda: audit.to_csv(entries),
                       file_name="audit_log.csv", mime="text/csv", key="audit_download", icon=":material/download:")
