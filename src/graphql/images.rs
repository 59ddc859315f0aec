//! The image catalogue environments are created from: object, inputs and the CRUD
//! declarations.

use async_graphql::{InputObject, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::images;
use sea_orm::Set;

use super::convert::{
    big_opt, bytes, description, id, opt_bytes, opt_description, opt_text, text, ts_opt,
};
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
            name: Set(text("name", self.name, 256)?),
            description: Set(opt_description(self.description)?),
            category: Set(opt_text("category", self.category, 64)?),
            is_official: Set(Some(self.is_official)),
            size: Set(opt_bytes("size", self.size)?),
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
            self.name.map(|v| text("name", v, 256)).transpose()?,
        );
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch_nullable(
            &mut row.category,
            parse_nullable(self.category, |v| text("category", v, 64))?,
        );
        patch(&mut row.is_official, self.is_official.map(Some));
        patch_nullable(
            &mut row.size,
            parse_nullable(self.size, |v| bytes("size", v))?,
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
