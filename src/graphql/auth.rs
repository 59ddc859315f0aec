//! Accounts: sign-up, sign-in, token refresh, sign-out, the signed-in customer.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use chrono::{DateTime, TimeZone, Utc};
use entity::customers;

use super::accounts::{customer_columns, Customer};
use super::crud::{parse_nullable, principal, state, ApiObject};
use super::schema::InBatch;
use crate::auth::policy;
use crate::domain::AccountRole;
use crate::error::{AppError, AppResult, GqlResult};
use crate::services::accounts::{self, NewAccount, ProfileChange};
use crate::services::crud;
use crate::services::sessions::{self, Session};

/// An optional nullable input as a change: absent keeps, `null` clears.
fn nullable<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for `Authorization: Bearer ...`; short-lived.
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    /// Exchange it with `refreshToken` for a new session; each one works once.
    pub refresh_token: String,
    pub customer: Customer,
}

impl AuthPayload {
    fn from_session(s: Session) -> AppResult<Self> {
        Ok(Self {
            access_token: s.access_token,
            access_token_expires_at: Utc
                .timestamp_opt(s.access_expires_at, 0)
                .single()
                .ok_or_else(|| AppError::internal("token expiry out of range"))?,
            refresh_token: s.refresh_token,
            customer: Customer::from_model(s.customer)?,
        })
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    /// 3-64 letters, digits, `_`, `-`, `.`.
    pub username: String,
    pub email: String,
    /// 8-128 characters.
    pub password: String,
    pub full_name: Option<String>,
    pub company: Option<String>,
}

/// What customers may change about themselves.
#[derive(InputObject, Default)]
pub struct UpdateMeInput {
    pub phone: MaybeUndefined<String>,
    pub full_name: MaybeUndefined<String>,
    pub company: MaybeUndefined<String>,
}

/// Sign-in operations are refused inside batched requests.
fn not_in_batch(ctx: &Context<'_>) -> AppResult<()> {
    if ctx.data_opt::<InBatch>().is_some() {
        return Err(AppError::bad_input("sign-in operations cannot be batched"));
    }
    Ok(())
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in customer.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        let user = principal(ctx).user().gql()?;
        let model = crud::get::<customers::Entity>(
            &state(ctx).db,
            user.id,
            "customer",
            policy::own_profile(user).read,
        )
        .await
        .gql()?;
        Customer::from_model(model).gql()
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates a customer account and signs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        not_in_batch(ctx).gql()?;
        let app = state(ctx);
        let full_name = input
            .full_name
            .map(customer_columns::full_name)
            .transpose()
            .gql()?;
        let company = input
            .company
            .map(customer_columns::company)
            .transpose()
            .gql()?;
        let account = NewAccount {
            full_name,
            company,
            ..NewAccount::parse(&input.username, &input.email, &input.password).gql()?
        };
        let customer = accounts::register(&app.db, account, AccountRole::Customer)
            .await
            .gql()?;
        let session = sessions::login(
            &app.db,
            &app.jwt,
            (&app.settings.auth).into(),
            &app.login_throttle,
            &customer.username,
            &input.password,
        )
        .await
        .gql()?;
        AuthPayload::from_session(session).gql()
    }

    /// Signs in with a username or e-mail address. Wrong credentials are UNAUTHENTICATED;
    /// a suspended account is FORBIDDEN.
    async fn login(
        &self,
        ctx: &Context<'_>,
        login: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        not_in_batch(ctx).gql()?;
        let app = state(ctx);
        let session = sessions::login(
            &app.db,
            &app.jwt,
            (&app.settings.auth).into(),
            &app.login_throttle,
            &login,
            &password,
        )
        .await
        .gql()?;
        AuthPayload::from_session(session).gql()
    }

    /// A new session for a refresh token; the token is used up. Reusing one revokes its session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        not_in_batch(ctx).gql()?;
        let app = state(ctx);
        let session = sessions::refresh(
            &app.db,
            &app.jwt,
            (&app.settings.auth).into(),
            &refresh_token,
        )
        .await
        .gql()?;
        AuthPayload::from_session(session).gql()
    }

    /// Ends the session the refresh token belongs to.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let user = principal(ctx).user().gql()?;
        sessions::logout(&state(ctx).db, user.id, &refresh_token)
            .await
            .gql()?;
        Ok(true)
    }

    /// Changes the password and ends every session of the account. Wrong current passwords
    /// count towards the account's sign-in lock (RATE_LIMITED while it lasts), and an
    /// operation holds at most one field that checks a password.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        let user = principal(ctx).user().gql()?;
        let app = state(ctx);
        sessions::change_password(
            &app.db,
            app.events.as_ref(),
            &app.login_throttle,
            user.id,
            &current_password,
            &new_password,
        )
        .await
        .gql()?;
        Ok(true)
    }

    /// Updates the signed-in customer's profile.
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        input: UpdateMeInput,
    ) -> async_graphql::Result<Customer> {
        let user = principal(ctx).user().gql()?;
        let change = ProfileChange {
            phone: nullable(parse_nullable(input.phone, customer_columns::phone).gql()?),
            full_name: nullable(
                parse_nullable(input.full_name, customer_columns::full_name).gql()?,
            ),
            company: nullable(parse_nullable(input.company, customer_columns::company).gql()?),
        };
        let app = state(ctx);
        let model = accounts::update_profile(&app.db, app.events.as_ref(), user, change)
            .await
            .gql()?;
        Customer::from_model(model).gql()
    }

    /// Leaves a workspace, whatever one's role or status. The last active owner cannot
    /// (CONFLICT); a workspace one is not in is NOT_FOUND.
    async fn leave_workspace(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
    ) -> async_graphql::Result<bool> {
        let user = principal(ctx).user().gql()?;
        let ws: i64 = workspace_id
            .parse()
            .map_err(|_| AppError::NotFound("workspace"))
            .gql()?;
        crate::services::workspaces::leave(&state(ctx).db, state(ctx).events.as_ref(), user, ws)
            .await
            .gql()?;
        Ok(true)
    }
}
