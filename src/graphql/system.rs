//! System configuration (`system_configs`): typed key/value settings maintained by operators.

use async_graphql::{InputObject, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::system_configs as sc;
use sea_orm::Set;

use super::convert::{description, exact_text, id, opt_description, ts_opt, MAX_JSON_BYTES};
use super::crud::{
    crud_mutation, crud_query, parse_nullable, patch, patch_nullable, ApiObject, CreateInput,
    UpdateInput,
};
use super::enums::{ConfigType, DbEnum};
use super::filter::{filter_input, order_input, BooleanFilter, EnumFilter, IdFilter, StringFilter};
use crate::domain::BoundedText;
use crate::error::{AppError, AppResult};

/// A platform setting. `configValue` is text that always parses as `configType`.
#[derive(SimpleObject)]
pub struct SystemConfig {
    pub id: ID,
    pub config_key: String,
    pub config_value: String,
    pub config_type: ConfigType,
    pub description: Option<String>,
    /// Whether customers may read it (operators always can).
    pub is_public: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl ApiObject for SystemConfig {
    type Entity = sc::Entity;
    const LABEL: &'static str = "system config";
    fn from_model(m: sc::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            config_key: m.config_key,
            config_value: m.config_value,
            config_type: ConfigType::from_db(&m.config_type)?,
            description: m.description,
            is_public: m.is_public,
            created_at: ts_opt(m.created_at),
            updated_at: ts_opt(m.updated_at),
        })
    }
}

/// Checks that `value` reads as `ty`, so consumers can parse it without surprises.
fn check_value(ty: ConfigType, value: &str) -> AppResult<()> {
    let ok = match ty {
        ConfigType::Integer => value.trim().parse::<i64>().is_ok(),
        ConfigType::Float => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
        ConfigType::Boolean => matches!(value, "true" | "false"),
        ConfigType::Json => serde_json::from_str::<serde_json::Value>(value).is_ok(),
        ConfigType::String => true,
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_input(format!(
            "configValue: '{value}' is not a valid {}",
            ty.as_db()
        )))
    }
}

filter_input!(SystemConfigFilter for sc {
    id: IdFilter => Id as i64,
    config_key: StringFilter => ConfigKey,
    config_type: EnumFilter<ConfigType> => ConfigType,
    is_public: BooleanFilter => IsPublic,
});

order_input!(SystemConfigOrder, SystemConfigOrderField, sc::Entity, sc::Column {
    Id => Id,
    ConfigKey => ConfigKey,
    CreatedAt => CreatedAt,
    UpdatedAt => UpdatedAt,
});

/// Each system config column's rule, written once for create and update.
mod system_config_columns {
    use super::*;

    pub fn config_value(v: String) -> AppResult<String> {
        exact_text("configValue", v, MAX_JSON_BYTES)
    }
}

#[derive(InputObject)]
pub struct CreateSystemConfigInput {
    pub config_key: String,
    pub config_value: String,
    pub config_type: ConfigType,
    pub description: Option<String>,
    #[graphql(default)]
    pub is_public: bool,
}

impl CreateInput for CreateSystemConfigInput {
    type Object = SystemConfig;
    fn into_row(self) -> AppResult<sc::ActiveModel> {
        check_value(self.config_type, &self.config_value)?;
        Ok(sc::ActiveModel {
            config_key: Set(BoundedText::parse("configKey", &self.config_key, 128)?.into_string()),
            config_value: Set(system_config_columns::config_value(self.config_value)?),
            config_type: Set(self.config_type.as_db().into()),
            description: Set(opt_description(self.description)?),
            is_public: Set(Some(self.is_public)),
            ..Default::default()
        })
    }
}

#[derive(InputObject)]
pub struct UpdateSystemConfigInput {
    pub config_value: Option<String>,
    pub config_type: Option<ConfigType>,
    pub description: MaybeUndefined<String>,
    pub is_public: Option<bool>,
}

impl UpdateInput for UpdateSystemConfigInput {
    type Object = SystemConfig;
    fn apply(self, row: &mut sc::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.config_value,
            self.config_value
                .map(system_config_columns::config_value)
                .transpose()?,
        );
        patch(
            &mut row.config_type,
            self.config_type.map(|t| t.as_db().to_owned()),
        );
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch(&mut row.is_public, self.is_public.map(Some));
        let ty = row.config_type.as_ref().as_str();
        check_value(
            ConfigType::from_db(ty).map_err(|_| AppError::bad_input("configType: unknown"))?,
            row.config_value.as_ref(),
        )
    }
}

crud_query!(SystemConfigQuery {
    object: SystemConfig,
    one: system_config,
    many: system_configs,
    filter: SystemConfigFilter,
    order: SystemConfigOrder,
});
crud_mutation!(
    SystemConfigMutation,
    SystemConfig,
    create: create_system_config(CreateSystemConfigInput),
    update: update_system_config(UpdateSystemConfigInput),
    delete: delete_system_config
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_must_match_their_type() {
        assert!(check_value(ConfigType::Integer, "30000").is_ok());
        assert!(check_value(ConfigType::Integer, "30k").is_err());
        assert!(check_value(ConfigType::Float, "0.5").is_ok());
        assert!(check_value(ConfigType::Float, "NaN").is_err());
        assert!(check_value(ConfigType::Boolean, "yes").is_err());
        assert!(check_value(ConfigType::Json, "{\"a\":1}").is_ok());
        assert!(check_value(ConfigType::Json, "{a:1}").is_err());
        assert!(check_value(ConfigType::String, "").is_ok());
    }
}
