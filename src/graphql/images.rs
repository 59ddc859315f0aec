//! The image catalogue environments are created from: object, inputs and the CRUD
//! declarations.

use async_graphql::{InputObject, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::images;
use sea_orm::Set;

use super::convert::{big_opt, bytes, description, id, opt_description, text, ts_opt};
use super::crud::{
    crud_mutation, crud_query, parse_nullable, patch, patch_nullable, ApiObject, CreateInput,
    UpdateInput,
};
use super::filter::{filter_input, order_input, BooleanFilter, IdFilter, StringFilter};
use super::scalars::BigInt;
use crate::error::AppResult;

/// A container image environments can be created from.
#[derive(SimpleObject)]
pub struct Image {
    pub id: ID,
    /// Unique, e.g. `ubuntu20-pytorch:2.0`.
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub is_official: Option<bool>,
    /// Bytes.
    pub size: Option<BigInt>,
    pub created_at: Option<DateTime<Utc>>,
}

impl ApiObject for Image {
    type Entity = images::Entity;
    const LABEL: &'static str = "image";
    fn from_model(m: images::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            name: m.name,
            description: m.description,
            category: m.category,
            is_official: m.is_official,
            size: big_opt(m.size),
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(ImageFilter for images {
    id: IdFilter => Id as i64,
    name: StringFilter => Name,
    category: StringFilter => Category,
    is_official: BooleanFilter => IsOfficial,
});

order_input!(ImageOrder, ImageOrderField, images::Entity, images::Column {
    Id => Id,
    Name => Name,
    Size => Size,
    CreatedAt => CreatedAt,
});

/// Each image column's rule, written once for create and update.
mod image_columns {
    use super::*;

    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 256)
    }
    pub fn category(v: String) -> AppResult<String> {
        text("category", v, 64)
    }
    pub fn size(v: BigInt) -> AppResult<i64> {
        bytes("size", v)
    }
}

#[derive(InputObject)]
pub struct CreateImageInput {
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    #[graphql(default)]
    pub is_official: bool,
    pub size: Option<BigInt>,
}

impl CreateInput for CreateImageInput {
    type Object = Image;
    fn into_row(self) -> AppResult<images::ActiveModel> {
        Ok(images::ActiveModel {
            name: Set(image_columns::name(self.name)?),
            description: Set(opt_description(self.description)?),
            category: Set(self.category.map(image_columns::category).transpose()?),
            is_official: Set(Some(self.is_official)),
            size: Set(self.size.map(image_columns::size).transpose()?),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateImageInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub category: MaybeUndefined<String>,
    pub is_official: Option<bool>,
    pub size: MaybeUndefined<BigInt>,
}

impl UpdateInput for UpdateImageInput {
    type Object = Image;
    fn apply(self, row: &mut images::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.name,
            self.name.map(image_columns::name).transpose()?,
        );
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch_nullable(
            &mut row.category,
            parse_nullable(self.category, image_columns::category)?,
        );
        patch(&mut row.is_official, self.is_official.map(Some));
        patch_nullable(
            &mut row.size,
            parse_nullable(self.size, image_columns::size)?,
        );
        Ok(())
    }
}

crud_query!(ImageQuery {
    object: Image,
    one: image,
    many: images,
    filter: ImageFilter,
    order: ImageOrder,
});
crud_mutation!(
    ImageMutation,
    Image,
    create: create_image(CreateImageInput),
    update: update_image(UpdateImageInput),
    delete: delete_image
);
