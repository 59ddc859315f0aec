//! Customers, workspaces and workspace members.

use async_graphql::{
    ComplexObject, Context, InputObject, MaybeUndefined, Object, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::{customers, workspace_members as wm, workspaces};
use sea_orm::Set;

use super::convert::{description, fk, id, opt_description, text, ts_opt};
use super::crud::{
    crud_mutation, crud_query, load_many, load_opt, load_parent, parse_nullable, patch,
    patch_nullable, principal, state, ApiObject, CreateInput, UpdateInput,
};
use super::datasets::Dataset;
use super::enums::*;
use super::environments::Environment;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, StringFilter};
use super::models::Model;
use super::relations::*;
use crate::auth::policy::user_for;
use crate::domain::{Email, Password, Username};
use crate::error::AppResult;
use crate::error::GqlResult;
use crate::services::accounts::{self as account_service, NewAccount};

/// A customer account. The password hash is never exposed.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    pub id: ID,
    #[graphql(skip)]
    pub key: i64,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub account_type: Option<AccountType>,
    /// `ADMIN` for platform operators.
    pub role: CustomerRole,
    pub status: Option<CustomerStatus>,
    pub email_verified: Option<bool>,
    pub phone_verified: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Quota override (null: the platform default); set by operators with `setCustomerQuota`.
    pub max_gpus: Option<i32>,
    pub max_environments: Option<i32>,
}

#[ComplexObject]
impl Customer {
    /// This month's spend, limit and alert: yourself (operators: anyone); null for others.
    async fn spend(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::billing::AccountSpend>> {
        super::billing::spend_of(ctx, crate::domain::BillingAccount::Customer(self.key)).await
    }
    /// Workspaces this customer owns.
    #[graphql(complexity = "crate::graphql::pagination::fan_out(10, child_complexity)")]
    async fn workspaces(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Workspace>> {
        load_many::<WorkspacesOwnedBy, _>(ctx, self.key).await.gql()
    }
    /// Workspace memberships, owned workspaces included.
    #[graphql(complexity = "crate::graphql::pagination::fan_out(10, child_complexity)")]
    async fn memberships(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WorkspaceMember>> {
        load_many::<MembershipsOfCustomer, _>(ctx, self.key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(20, child_complexity)")]
    async fn environments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Environment>> {
        load_many::<EnvironmentsOfCustomer, _>(ctx, self.key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(20, child_complexity)")]
    async fn datasets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Dataset>> {
        load_many::<DatasetsOfCustomer, _>(ctx, self.key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(20, child_complexity)")]
    async fn models(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Model>> {
        load_many::<ModelsOfCustomer, _>(ctx, self.key).await.gql()
    }
}

impl ApiObject for Customer {
    type Entity = customers::Entity;
    const LABEL: &'static str = "customer";
    fn from_model(m: customers::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            uuid: m.uuid,
            username: m.username,
            email: m.email,
            phone: m.phone,
            full_name: m.full_name,
            company: m.company,
            account_type: AccountType::from_db_opt(m.account_type.as_deref())?,
            role: CustomerRole::from_db(&m.role)?,
            status: CustomerStatus::from_db_opt(m.status.as_deref())?,
            email_verified: m.email_verified,
            phone_verified: m.phone_verified,
            created_at: ts_opt(m.created_at),
            updated_at: ts_opt(m.updated_at),
            max_gpus: m.max_gpus,
            max_environments: m.max_environments,
        })
    }
}

filter_input!(CustomerFilter for customers {
    id: IdFilter => Id as i64,
    uuid: StringFilter => Uuid,
    username: StringFilter => Username,
    email: StringFilter => Email,
    status: EnumFilter<CustomerStatus> => Status,
});

order_input!(CustomerOrder, CustomerOrderField, customers::Entity, customers::Column {
    Id => Id,
    Username => Username,
    Email => Email,
    CreatedAt => CreatedAt,
});

/// Each customer column's rule, written once for `register`, `createCustomer`,
/// `updateCustomer` and `updateMe`.
pub(crate) mod customer_columns {
    use super::*;

    pub fn username(v: String) -> AppResult<Username> {
        Username::parse("username", &v)
    }
    pub fn email(v: String) -> AppResult<Email> {
        Email::parse("email", &v)
    }
    pub fn phone(v: String) -> AppResult<String> {
        text("phone", v, 32)
    }
    pub fn full_name(v: String) -> AppResult<String> {
        text("fullName", v, 256)
    }
    pub fn company(v: String) -> AppResult<String> {
        text("company", v, 256)
    }
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    pub username: String,
    pub email: String,
    /// 8 to 128 characters; stored as an Argon2id hash.
    pub password: String,
    pub phone: Option<String>,
    pub full_name: Option<String>,
    pub company: Option<String>,
    #[graphql(default_with = "AccountType::Individual")]
    pub account_type: AccountType,
}

impl CreateCustomerInput {
    fn parse(self) -> AppResult<NewAccount> {
        Ok(NewAccount {
            username: customer_columns::username(self.username)?,
            email: customer_columns::email(self.email)?,
            password: Password::parse("password", &self.password)?,
            phone: self.phone.map(customer_columns::phone).transpose()?,
            full_name: self
                .full_name
                .map(customer_columns::full_name)
                .transpose()?,
            company: self.company.map(customer_columns::company).transpose()?,
            account_type: Some(self.account_type.into()),
        })
    }
}

#[derive(Default)]
pub struct CustomerAdminMutation;

#[Object]
impl CustomerAdminMutation {
    /// Creates a customer account (operators only); the password is stored as an Argon2id
    /// hash.
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomerInput,
    ) -> async_graphql::Result<Customer> {
        let user = user_for::<customers::Entity>(&principal(ctx)).gql()?;
        let account = input.parse().gql()?;
        let model = account_service::create_customer(&state(ctx).db, user, account)
            .await
            .gql()?;
        Customer::from_model(model).gql()
    }
}

#[derive(InputObject, Default)]
pub struct UpdateCustomerInput {
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: MaybeUndefined<String>,
    pub full_name: MaybeUndefined<String>,
    pub company: MaybeUndefined<String>,
    pub account_type: Option<AccountType>,
    pub status: Option<CustomerStatus>,
    pub email_verified: Option<bool>,
    pub phone_verified: Option<bool>,
}

impl UpdateInput for UpdateCustomerInput {
    type Object = Customer;
    fn apply(self, row: &mut customers::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.username,
            self.username
                .map(|u| customer_columns::username(u).map(Username::into_string))
                .transpose()?,
        );
        patch(
            &mut row.email,
            self.email
                .map(|e| customer_columns::email(e).map(Email::into_string))
                .transpose()?,
        );
        patch_nullable(
            &mut row.phone,
            parse_nullable(self.phone, customer_columns::phone)?,
        );
        patch_nullable(
            &mut row.full_name,
            parse_nullable(self.full_name, customer_columns::full_name)?,
        );
        patch_nullable(
            &mut row.company,
            parse_nullable(self.company, customer_columns::company)?,
        );
        patch(
            &mut row.account_type,
            self.account_type.map(|v| Some(v.as_db().into())),
        );
        patch(&mut row.status, self.status.map(|v| Some(v.as_db().into())));
        patch(&mut row.email_verified, self.email_verified.map(Some));
        patch(&mut row.phone_verified, self.phone_verified.map(Some));
        Ok(())
    }
}

crud_query!(CustomerQuery {
    object: Customer,
    one: customer,
    many: customers,
    filter: CustomerFilter,
    order: CustomerOrder,
});
crud_mutation!(
    CustomerMutation,
    Customer,
    update: update_customer(UpdateCustomerInput),
    delete: delete_customer
);

/// An owner column from an optional input: unset means "the caller" (filled in by the
/// table's policy).
pub(crate) fn owner(id: Option<&ID>) -> AppResult<sea_orm::ActiveValue<i64>> {
    Ok(match id {
        Some(id) => Set(fk("ownerId", id)?),
        None => sea_orm::ActiveValue::NotSet,
    })
}

/// A team space; its members share environments, datasets and models by role.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Workspace {
    pub id: ID,
    #[graphql(skip)]
    pub key: i64,
    pub uuid: String,
    pub owner_id: ID,
    #[graphql(skip)]
    pub owner_key: i64,
    pub name: String,
    pub description: Option<String>,
    #[graphql(name = "type")]
    pub workspace_type: Option<WorkspaceType>,
    pub status: Option<WorkspaceStatus>,
    /// Kept equal to the number of member rows, owner included.
    pub member_count: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Quota override (null: the platform default); set by operators with `setWorkspaceQuota`.
    pub max_gpus: Option<i32>,
    pub max_environments: Option<i32>,
}

#[ComplexObject]
impl Workspace {
    /// This month's spend of the workspace's environments, its limit and alert.
    async fn spend(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::billing::AccountSpend>> {
        super::billing::spend_of(ctx, crate::domain::BillingAccount::Workspace(self.key)).await
    }
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_parent::<CustomerById, _>(ctx, self.owner_key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(10, child_complexity)")]
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WorkspaceMember>> {
        load_many::<MembersOfWorkspace, _>(ctx, self.key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(20, child_complexity)")]
    async fn environments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Environment>> {
        load_many::<EnvironmentsOfWorkspace, _>(ctx, self.key)
            .await
            .gql()
    }
}

impl ApiObject for Workspace {
    type Entity = workspaces::Entity;
    const LABEL: &'static str = "workspace";
    fn from_model(m: workspaces::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            uuid: m.uuid,
            owner_id: id(m.owner_id),
            owner_key: m.owner_id,
            name: m.name,
            description: m.description,
            workspace_type: WorkspaceType::from_db_opt(m.r#type.as_deref())?,
            status: WorkspaceStatus::from_db_opt(m.status.as_deref())?,
            member_count: m.member_count,
            created_at: ts_opt(m.created_at),
            updated_at: ts_opt(m.updated_at),
            max_gpus: m.max_gpus,
            max_environments: m.max_environments,
        })
    }
}

filter_input!(WorkspaceFilter for workspaces {
    id: IdFilter => Id as i64,
    owner_id: IdFilter => OwnerId as i64,
    name: StringFilter => Name,
});

order_input!(WorkspaceOrder, WorkspaceOrderField, workspaces::Entity, workspaces::Column {
    Id => Id,
    Name => Name,
    MemberCount => MemberCount,
    CreatedAt => CreatedAt,
});

/// Each workspace column's rule, written once for create and update.
mod workspace_columns {
    use super::*;

    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 128)
    }
}

#[derive(InputObject)]
pub struct CreateWorkspaceInput {
    /// Becomes the workspace's first member, with role `OWNER`. Defaults to the caller;
    /// only operators may name someone else.
    pub owner_id: Option<ID>,
    pub name: String,
    pub description: Option<String>,
    #[graphql(name = "type", default_with = "WorkspaceType::Team")]
    pub workspace_type: WorkspaceType,
}

impl CreateInput for CreateWorkspaceInput {
    type Object = Workspace;
    fn into_row(self) -> AppResult<workspaces::ActiveModel> {
        Ok(workspaces::ActiveModel {
            uuid: Set(format!("ws-{}", uuid::Uuid::new_v4().simple())),
            owner_id: owner(self.owner_id.as_ref())?,
            name: Set(workspace_columns::name(self.name)?),
            description: Set(opt_description(self.description)?),
            r#type: Set(Some(self.workspace_type.as_db().into())),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateWorkspaceInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    #[graphql(name = "type")]
    pub workspace_type: Option<WorkspaceType>,
    pub status: Option<WorkspaceStatus>,
}

impl UpdateInput for UpdateWorkspaceInput {
    type Object = Workspace;
    fn apply(self, row: &mut workspaces::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.name,
            self.name.map(workspace_columns::name).transpose()?,
        );
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch(
            &mut row.r#type,
            self.workspace_type.map(|v| Some(v.as_db().into())),
        );
        patch(&mut row.status, self.status.map(|v| Some(v.as_db().into())));
        Ok(())
    }
}

crud_query!(WorkspaceQuery {
    object: Workspace,
    one: workspace,
    many: workspaces,
    filter: WorkspaceFilter,
    order: WorkspaceOrder,
});
crud_mutation!(
    WorkspaceMutation,
    Workspace,
    create: create_workspace(CreateWorkspaceInput),
    update: update_workspace(UpdateWorkspaceInput),
    delete: delete_workspace
);

/// A customer's membership of a workspace.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WorkspaceMember {
    pub id: ID,
    pub workspace_id: ID,
    #[graphql(skip)]
    pub workspace_key: i64,
    pub customer_id: ID,
    #[graphql(skip)]
    pub customer_key: i64,
    pub role: WorkspaceRole,
    pub status: Option<MemberStatus>,
    pub joined_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl WorkspaceMember {
    async fn workspace(&self, ctx: &Context<'_>) -> async_graphql::Result<Workspace> {
        load_parent::<WorkspaceById, _>(ctx, self.workspace_key)
            .await
            .gql()
    }
    /// The member's account: null unless both the member's and the reader's memberships
    /// are `ACTIVE` (operators always see it).
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        load_opt::<CustomerById, _>(ctx, Some(self.customer_key))
            .await
            .gql()
    }
}

impl ApiObject for WorkspaceMember {
    type Entity = wm::Entity;
    const LABEL: &'static str = "workspace member";
    fn from_model(m: wm::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            workspace_id: id(m.workspace_id),
            workspace_key: m.workspace_id,
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            role: WorkspaceRole::from_db(&m.role)?,
            status: MemberStatus::from_db_opt(m.status.as_deref())?,
            joined_at: ts_opt(m.joined_at),
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(WorkspaceMemberFilter for wm {
    id: IdFilter => Id as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    customer_id: IdFilter => CustomerId as i64,
    role: EnumFilter<WorkspaceRole> => Role,
});

order_input!(WorkspaceMemberOrder, WorkspaceMemberOrderField, wm::Entity, wm::Column {
    Id => Id,
    Role => Role,
    JoinedAt => JoinedAt,
    CreatedAt => CreatedAt,
});

/// `updateWorkspaceMember`: the fields given change.
#[derive(InputObject, Default)]
pub struct UpdateWorkspaceMemberInput {
    /// Only owners grant or revoke `OWNER`.
    pub role: Option<WorkspaceRole>,
    /// `ACTIVE` or `SUSPENDED` (suspending an owner is revoking it: owners only).
    pub status: Option<MemberStatus>,
}

crud_query!(WorkspaceMemberQuery {
    object: WorkspaceMember,
    one: workspace_member,
    many: workspace_members,
    filter: WorkspaceMemberFilter,
    order: WorkspaceMemberOrder,
});
