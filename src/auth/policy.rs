//! Row-level access rules, one impl per table, all in this file.
//!
//! [`Policy::readable`] is the condition on rows a user may see; [`Policy::writable`] the
//! rows they may change and [`Policy::deletable`] those they may delete (by default the
//! same; both always subsets of the readable ones);
//! [`Policy::authorize_insert`] checks a new row's owner and parents and fills the owner when
//! the input left it out. The generic resolvers and the relation loaders apply these to every
//! query, so another tenant's row behaves exactly like a row that does not exist: NOT_FOUND
//! when looked up, absent from lists and relations, and "a referenced record does not exist"
//! (BAD_USER_INPUT) when named as a parent.
//!
//! Admins (`customers.role = 'admin'`) see and change everything. Rows a customer owns alone
//! or in a workspace (environments, datasets, models) share one rule, [`tenant_rows`]; the
//! exceptions to a table's rule are named functions here ([`own_profile`],
//! [`authorize_new_environment`], [`authorize_membership_change`], [`imports_are_operators`]). Workspace roles: every
//! active member reads the workspace's resources; `owner`, `admin` and `member` create their
//! own resources in it; `owner` and `admin` manage the workspace, its members and everyone's
//! resources in it, but only an `owner` deletes the workspace; `viewer` only reads.
//!
//! Memberships have rules of their own, all here: nobody is made a member without consent
//! (a manager's invitation, which the invitee accepts: `workspace_invitations` below); members
//! see each other's accounts only while both memberships are `active` (the `customers` rule);
//! only owners grant or revoke `owner` ([`authorize_membership_change`]); and anyone may leave
//! a workspace, whatever their role or status (the last active owner excepted, which is a
//! rule of the workspace, not of access: `services::workspaces`).

use entity::*;
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Condition, Query, SelectStatement};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter,
};

pub use super::scope::{
    access, delete_access, missing_reference, require_writable, user_for, Access, Policy, Scope,
};
use super::scope::{admin_only, readable_keys, writable_keys};
use super::User;
use crate::domain::{BillingAccount, MemberRole, MemberState};
use crate::error::{AppError, AppResult};

const ANY_ROLE: &[MemberRole] = &[
    MemberRole::Owner,
    MemberRole::Admin,
    MemberRole::Member,
    MemberRole::Viewer,
];
const CONTRIBUTORS: &[MemberRole] = &[MemberRole::Owner, MemberRole::Admin, MemberRole::Member];
const MANAGERS: &[MemberRole] = &[MemberRole::Owner, MemberRole::Admin];
const OWNERS: &[MemberRole] = &[MemberRole::Owner];

fn spellings(roles: &[MemberRole]) -> impl Iterator<Item = &'static str> + '_ {
    roles.iter().map(|r| r.as_db())
}

/// Ids of the workspaces where `u` is an active member with one of `roles`.
fn my_workspaces(u: User, roles: &[MemberRole]) -> SelectStatement {
    Query::select()
        .column(workspace_members::Column::WorkspaceId)
        .from(workspace_members::Entity)
        .and_where(workspace_members::Column::CustomerId.eq(u.id))
        .and_where(workspace_members::Column::Status.eq(MemberState::Active.as_db()))
        .and_where(workspace_members::Column::Role.is_in(spellings(roles)))
        .to_owned()
}

/// Exception to the `customers` rule (whose writes are the operators'): everyone reads and
/// changes their own profile (`me`, `updateMe`), and only their own.
pub fn own_profile(u: User) -> Access {
    let own = || Condition::all().add(customers::Column::Id.eq(u.id));
    Access {
        read: own(),
        write: own(),
    }
}

/// What a rule is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Read,
    Write,
}

/// The one rule of rows a customer owns, alone or in a workspace (environments, datasets,
/// models), given the row's owner and workspace columns. Read: the owner of a row of their
/// own (no workspace), and every active member of the row's workspace: a row created in a
/// workspace is the workspace's, so its creator reads it only while a member (leaving,
/// removal or suspension ends it). Write: the owner while the row is their own or while
/// they may still contribute to its workspace (`owner`, `admin`, `member`), and the
/// workspace's managers (`owner`, `admin`) whoever owns it.
fn tenant_rows<C: ColumnTrait>(u: User, customer: C, workspace: C, intent: Intent) -> Scope {
    Scope::for_user(u, || {
        let in_workspace = |roles| workspace.in_subquery(my_workspaces(u, roles));
        Scope::Only(match intent {
            Intent::Read => Condition::any()
                .add(
                    Condition::all()
                        .add(customer.eq(u.id))
                        .add(workspace.is_null()),
                )
                .add(in_workspace(ANY_ROLE)),
            Intent::Write => Condition::any()
                .add(
                    Condition::all().add(customer.eq(u.id)).add(
                        Condition::any()
                            .add(workspace.is_null())
                            .add(in_workspace(CONTRIBUTORS)),
                    ),
                )
                .add(in_workspace(MANAGERS)),
        })
    })
}

/// Fills an owner column with the caller when unset; a customer naming someone else gets
/// the missing-reference error, admins may name anyone.
fn own(u: User, owner: &mut ActiveValue<i64>) -> AppResult<()> {
    match owner {
        ActiveValue::NotSet => {
            *owner = ActiveValue::Set(u.id);
            Ok(())
        }
        ActiveValue::Set(id) | ActiveValue::Unchanged(id) if *id == u.id || u.admin => Ok(()),
        _ => Err(missing_reference()),
    }
}

/// Exception to the asset rules: a new dataset, model or version whose storage key the
/// caller named (`importKey`) registers data that already sits beneath the storage root,
/// which only operators may do. Everyone else gets a key the platform generates.
fn imports_are_operators(u: User, key: &ActiveValue<String>) -> AppResult<()> {
    if key.is_set() && !u.admin {
        return Err(AppError::bad_input(
            "importKey: only operators register data that already sits beneath the storage root",
        ));
    }
    Ok(())
}

/// An optional workspace for a new resource: the caller must be allowed to create in it.
async fn workspace_for_new(
    db: &DatabaseConnection,
    u: User,
    workspace: &ActiveValue<Option<i64>>,
) -> AppResult<()> {
    let Some(Some(ws)) = workspace.try_as_ref() else {
        return Ok(());
    };
    if u.admin {
        return Ok(());
    }
    let roles_in = |roles: &'static [MemberRole]| {
        workspace_members::Entity::find()
            .filter(workspace_members::Column::WorkspaceId.eq(*ws))
            .filter(workspace_members::Column::CustomerId.eq(u.id))
            .filter(workspace_members::Column::Status.eq(MemberState::Active.as_db()))
            .filter(workspace_members::Column::Role.is_in(spellings(roles)))
            .count(db)
    };
    if roles_in(CONTRIBUTORS).await? > 0 {
        Ok(())
    } else if roles_in(ANY_ROLE).await? > 0 {
        Err(AppError::Forbidden)
    } else {
        Err(missing_reference())
    }
}

/// Who may create an environment: anyone signed in, for themselves; in a workspace, its
/// `owner`, `admin` and `member` (a `viewer` is FORBIDDEN, a workspace one cannot see is a
/// missing reference). Environments are made by the lifecycle service, not by generic
/// inserts, so this is the one rule for it.
pub async fn authorize_new_environment(
    db: &DatabaseConnection,
    u: User,
    workspace: Option<i64>,
) -> AppResult<()> {
    workspace_for_new(db, u, &ActiveValue::Set(workspace)).await
}

/// Tables only platform operators read and write (infrastructure and remote commands).
macro_rules! operators_only {
    ($($module:ident),+ $(,)?) => {
        $(
            impl Policy for $module::Entity {
                const OPERATORS_ONLY: bool = true;

                fn readable(u: User) -> Scope {
                    admin_only(u)
                }
            }
        )+
    };
}

operators_only!(
    hosts,
    gpus,
    host_metrics,
    gpu_metrics,
    host_metrics_hourly,
    host_metrics_daily,
    gpu_metrics_hourly,
    gpu_metrics_daily,
    metric_batches,
    commands,
    command_results,
    refresh_tokens,
    environment_runs,
    invoice_sequences
);

/// Tables everyone signed in reads and operators write (`is_public` configs, the image catalogue).
macro_rules! catalogue {
    ($module:ident, $readable:expr) => {
        impl Policy for $module::Entity {
            fn readable(u: User) -> Scope {
                Scope::for_user(u, || $readable)
            }
        }
    };
}

catalogue!(
    system_configs,
    Scope::Only(Condition::all().add(system_configs::Column::IsPublic.eq(true)))
);
catalogue!(images, Scope::All);
// The price book is public to every signed-in user; operators write it.
catalogue!(prices, Scope::All);

/// Billing rows, which only metering writes: a customer reads those of their own
/// environments (`workspace_id` NULL) and every active member of a workspace reads the
/// workspace's; operators read everything (and settle invoices through their own mutations).
macro_rules! billing_records {
    ($($module:ident),+ $(,)?) => {
        $(
            impl Policy for $module::Entity {
                fn readable(u: User) -> Scope {
                    Scope::for_user(u, || {
                        Scope::Only(
                            Condition::any()
                                .add(
                                    Condition::all()
                                        .add($module::Column::CustomerId.eq(u.id))
                                        .add($module::Column::WorkspaceId.is_null()),
                                )
                                .add(
                                    $module::Column::WorkspaceId
                                        .in_subquery(my_workspaces(u, ANY_ROLE)),
                                ),
                        )
                    })
                }
            }
        )+
    };
}

billing_records!(billing_records, invoices);

impl Policy for customers::Entity {
    /// Oneself, and the other active members of the workspaces where one is an active
    /// member. An invitee and the inviter, or a suspended member and the others, see nothing
    /// of each other's accounts.
    fn readable(u: User) -> Scope {
        Scope::for_user(u, || {
            let co_members = Query::select()
                .column(workspace_members::Column::CustomerId)
                .from(workspace_members::Entity)
                .and_where(
                    workspace_members::Column::WorkspaceId.in_subquery(my_workspaces(u, ANY_ROLE)),
                )
                .and_where(workspace_members::Column::Status.eq(MemberState::Active.as_db()))
                .to_owned();
            Scope::Only(
                Condition::any()
                    .add(customers::Column::Id.eq(u.id))
                    .add(customers::Column::Id.in_subquery(co_members)),
            )
        })
    }
    // Writes stay the operators': customers change their own profile through `updateMe`.
}

impl Policy for workspaces::Entity {
    fn readable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(
                Condition::all()
                    .add(workspaces::Column::Id.in_subquery(my_workspaces(u, ANY_ROLE))),
            )
        })
    }
    fn writable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(
                Condition::all()
                    .add(workspaces::Column::Id.in_subquery(my_workspaces(u, MANAGERS))),
            )
        })
    }
    /// Exception: deleting a workspace takes everyone's resources in it with it, so it is
    /// its active owners' alone (an `admin` manages it but cannot delete it).
    fn deletable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(
                Condition::all().add(workspaces::Column::Id.in_subquery(my_workspaces(u, OWNERS))),
            )
        })
    }
    fn authorize_insert<'a>(
        u: User,
        row: &'a mut Self::ActiveModel,
        _: &'a DatabaseConnection,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move { own(u, &mut row.owner_id) })
    }
}

impl Policy for workspace_members::Entity {
    fn readable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(Condition::all().add(
                workspace_members::Column::WorkspaceId.in_subquery(my_workspaces(u, ANY_ROLE)),
            ))
        })
    }
    fn writable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(Condition::all().add(
                workspace_members::Column::WorkspaceId.in_subquery(my_workspaces(u, MANAGERS)),
            ))
        })
    }
    fn authorize_insert<'a>(
        u: User,
        row: &'a mut Self::ActiveModel,
        db: &'a DatabaseConnection,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let ws = *row
                .workspace_id
                .try_as_ref()
                .ok_or_else(missing_reference)?;
            require_writable::<workspaces::Entity>(db, u, workspaces::Column::Id, ws).await
        })
    }
}

impl Policy for workspace_invitations::Entity {
    /// The open invitations of the workspaces one manages, shown as the inviter typed them:
    /// the object carries neither the account an invitation reached nor whether it was
    /// declined, so an invitation to nobody looks like any other. Invitees see theirs through
    /// `myInvitations`; invitations change only through `services::workspaces`.
    fn readable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(
                Condition::all()
                    .add(
                        workspace_invitations::Column::WorkspaceId
                            .in_subquery(my_workspaces(u, MANAGERS)),
                    )
                    .add(
                        workspace_invitations::Column::ExpiresAt.gt(chrono::Utc::now().naive_utc()),
                    ),
            )
        })
    }
}

/// The caller's role in a workspace where their membership is active; `None` otherwise.
pub async fn member_role(
    db: &impl ConnectionTrait,
    u: User,
    workspace: i64,
) -> AppResult<Option<MemberRole>> {
    let row = workspace_members::Entity::find()
        .filter(workspace_members::Column::WorkspaceId.eq(workspace))
        .filter(workspace_members::Column::CustomerId.eq(u.id))
        .filter(workspace_members::Column::Status.eq(MemberState::Active.as_db()))
        .one(db)
        .await?;
    row.map(|m| MemberRole::from_db(&m.role)).transpose()
}

/// Whether a caller whose role in the workspace is `caller` may move a membership (or an
/// invitation) from role `from` to role `to`; a new invitation and a removal pass the same
/// role twice. Operators may; managers (`owner`, `admin`) may, except that only an owner
/// grants or revokes `owner`: an admin making anyone an owner (itself included), inviting
/// one, or changing, suspending or removing an owner is FORBIDDEN. Others are FORBIDDEN.
pub fn authorize_membership_change(
    u: User,
    caller: Option<MemberRole>,
    from: MemberRole,
    to: MemberRole,
) -> AppResult<()> {
    if u.admin {
        return Ok(());
    }
    match caller {
        Some(MemberRole::Owner) => Ok(()),
        Some(role) if role.manages() && from != MemberRole::Owner && to != MemberRole::Owner => {
            Ok(())
        }
        _ => Err(AppError::Forbidden),
    }
}

impl Policy for environments::Entity {
    fn readable(u: User) -> Scope {
        tenant_rows(
            u,
            environments::Column::CustomerId,
            environments::Column::WorkspaceId,
            Intent::Read,
        )
    }
    fn writable(u: User) -> Scope {
        tenant_rows(
            u,
            environments::Column::CustomerId,
            environments::Column::WorkspaceId,
            Intent::Write,
        )
    }
}

/// Rows that belong to an environment: visible with it, written by operators' processes.
macro_rules! environment_rows {
    ($($module:ident),+ $(,)?) => {
        $(
            impl Policy for $module::Entity {
                fn readable(u: User) -> Scope {
                    Scope::for_user(u, || {
                        Scope::Only(Condition::all().add(
                            $module::Column::EnvId
                                .in_subquery(readable_keys::<environments::Entity>(u, environments::Column::Id)),
                        ))
                    })
                }
            }
        )+
    };
}

environment_rows!(port_mappings, environment_metrics);

/// Customer assets that may live in a workspace (datasets, models): the rule of
/// environments ([`tenant_rows`]), and created like them.
macro_rules! workspace_assets {
    ($($module:ident),+ $(,)?) => {
        $(
            impl Policy for $module::Entity {
                fn readable(u: User) -> Scope {
                    tenant_rows(u, $module::Column::CustomerId, $module::Column::WorkspaceId, Intent::Read)
                }
                fn writable(u: User) -> Scope {
                    tenant_rows(u, $module::Column::CustomerId, $module::Column::WorkspaceId, Intent::Write)
                }
                fn authorize_insert<'a>(
                    u: User,
                    row: &'a mut Self::ActiveModel,
                    db: &'a DatabaseConnection,
                ) -> BoxFuture<'a, AppResult<()>> {
                    Box::pin(async move {
                        imports_are_operators(u, &row.storage_path)?;
                        own(u, &mut row.customer_id)?;
                        workspace_for_new(db, u, &row.workspace_id).await
                    })
                }
            }
        )+
    };
}

workspace_assets!(datasets, models);

/// Versions of an asset: visible and writable with their parent.
macro_rules! asset_versions {
    ($($module:ident => $parent:ident . $fk:ident / $field:ident),+ $(,)?) => {
        $(
            impl Policy for $module::Entity {
                fn readable(u: User) -> Scope {
                    Scope::for_user(u, || {
                        Scope::Only(Condition::all().add(
                            $module::Column::$fk.in_subquery(readable_keys::<$parent::Entity>(u, $parent::Column::Id)),
                        ))
                    })
                }
                fn writable(u: User) -> Scope {
                    Scope::for_user(u, || {
                        Scope::Only(Condition::all().add(
                            $module::Column::$fk.in_subquery(writable_keys::<$parent::Entity>(u, $parent::Column::Id)),
                        ))
                    })
                }
                fn authorize_insert<'a>(
                    u: User,
                    row: &'a mut Self::ActiveModel,
                    db: &'a DatabaseConnection,
                ) -> BoxFuture<'a, AppResult<()>> {
                    Box::pin(async move {
                        imports_are_operators(u, &row.storage_path)?;
                        let parent = *row.$field.try_as_ref().ok_or_else(missing_reference)?;
                        require_writable::<$parent::Entity>(db, u, $parent::Column::Id, parent).await
                    })
                }
            }
        )+
    };
}

asset_versions!(
    dataset_versions => datasets.DatasetId / dataset_id,
    model_versions => models.ModelId / model_id,
);

impl Policy for dataset_usage::Entity {
    /// Visible to whoever sees the dataset or the environment it is mounted in.
    fn readable(u: User) -> Scope {
        Scope::for_user(u, || {
            Scope::Only(
                Condition::any()
                    .add(
                        dataset_usage::Column::DatasetId.in_subquery(readable_keys::<
                            datasets::Entity,
                        >(
                            u, datasets::Column::Id
                        )),
                    )
                    .add(dataset_usage::Column::EnvId.in_subquery(readable_keys::<
                        environments::Entity,
                    >(
                        u, environments::Column::Id
                    ))),
            )
        })
    }
}

/// Exception to the tables' own rules, for operations that are not a table's insert or
/// update: the price book, quota overrides, invoice settlement and declaring a host lost are
/// the operators' alone (FORBIDDEN for everyone else).
pub fn require_operator(u: User) -> AppResult<()> {
    if u.admin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Who sets an account's monthly spend limit: a customer their own (operators anyone's);
/// a workspace's its active `owner`s and `admin`s (a `member` or `viewer` is FORBIDDEN, a
/// workspace one is not an active member of is NOT_FOUND).
pub async fn authorize_spend_limit(
    db: &impl ConnectionTrait,
    u: User,
    account: BillingAccount,
) -> AppResult<()> {
    match account {
        BillingAccount::Customer(id) if !u.admin && id != u.id => {
            Err(AppError::NotFound("customer"))
        }
        BillingAccount::Workspace(id) if !u.admin => match member_role(db, u, id).await? {
            Some(role) if role.manages() => Ok(()),
            Some(_) => Err(AppError::Forbidden),
            None => Err(AppError::NotFound("workspace")),
        },
        _ => Ok(()),
    }
}

/// Whose spend a user reads: their own account's (operators any customer's); a workspace's
/// follows the workspace's read rule.
pub fn may_read_customer_spend(u: User, customer: i64) -> bool {
    u.admin || customer == u.id
}
