/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "tether-message.h"

struct _TetherMessage {
	GObject parent_instance;
	guint64 id;
	gchar *kind;
	GBytes *payload;
	GVariant *options;
	gchar *topic;
	GBytes *wire_payload;
	gint qos;
	gint64 expires;
};

G_DEFINE_FINAL_TYPE (TetherMessage, tether_message, G_TYPE_OBJECT)

static void
tether_message_finalize (GObject *object)
{
	TetherMessage *self = TETHER_MESSAGE (object);

	g_free (self->kind);
	g_bytes_unref (self->payload);
	g_variant_unref (self->options);
	g_free (self->topic);
	g_clear_pointer (&self->wire_payload, g_bytes_unref);
	G_OBJECT_CLASS (tether_message_parent_class)->finalize (object);
}

static void
tether_message_class_init (TetherMessageClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = tether_message_finalize;
}

static void
tether_message_init (TetherMessage *self)
{
	self->qos = 1;
}

/**
 * tether_message_new:
 * @kind: the message's kind
 * @payload: its bytes
 * @options: (nullable): an a{sv} of publish options; a floating one is sunk
 */
TetherMessage *
tether_message_new (const gchar *kind, GBytes *payload, GVariant *options)
{
	TetherMessage *self = g_object_new (TETHER_TYPE_MESSAGE, NULL);

	self->kind = g_strdup (kind);
	self->payload = g_bytes_ref (payload);
	if (options != NULL)
		self->options = g_variant_ref_sink (options);
	else
		self->options = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
	return self;
}

guint64
tether_message_get_id (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), 0);
	return self->id;
}

void
tether_message_set_id (TetherMessage *self, guint64 id)
{
	g_return_if_fail (TETHER_IS_MESSAGE (self));
	self->id = id;
}

const gchar *
tether_message_get_kind (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return self->kind;
}

GBytes *
tether_message_get_payload (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return self->payload;
}

GVariant *
tether_message_get_options (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return self->options;
}

/* returns a new reference, or NULL when the option is absent */
GVariant *
tether_message_lookup_option (TetherMessage *self, const gchar *name, const GVariantType *type)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return g_variant_lookup_value (self->options, name, type);
}

const gchar *
tether_message_lookup_string (TetherMessage *self, const gchar *name)
{
	const gchar *value = NULL;

	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	if (!g_variant_lookup (self->options, name, "&s", &value))
		return NULL;
	return value;
}

const gchar *
tether_message_get_topic (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return self->topic;
}

void
tether_message_set_topic (TetherMessage *self, const gchar *topic)
{
	g_return_if_fail (TETHER_IS_MESSAGE (self));
	g_free (self->topic);
	self->topic = g_strdup (topic);
}

/* the payload on the wire: the plugin's, or else the application's */
GBytes *
tether_message_get_wire_payload (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), NULL);
	return self->wire_payload != NULL ? self->wire_payload : self->payload;
}

void
tether_message_set_wire_payload (TetherMessage *self, GBytes *payload)
{
	g_return_if_fail (TETHER_IS_MESSAGE (self));
	g_clear_pointer (&self->wire_payload, g_bytes_unref);
	if (payload != NULL)
		self->wire_payload = g_bytes_ref (payload);
}

gint
tether_message_get_qos (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), 1);
	return self->qos;
}

void
tether_message_set_qos (TetherMessage *self, gint qos)
{
	g_return_if_fail (TETHER_IS_MESSAGE (self));
	g_return_if_fail (qos == 0 || qos == 1);
	self->qos = qos;
}

gint64
tether_message_get_expires (TetherMessage *self)
{
	g_return_val_if_fail (TETHER_IS_MESSAGE (self), 0);
	return self->expires;
}

void
tether_message_set_expires (TetherMessage *self, gint64 expires)
{
	g_return_if_fail (TETHER_IS_MESSAGE (self));
	self->expires = expires;
}
