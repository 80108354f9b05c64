/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gmodule.h>

#include "tether-cloud.h"
#include "tether-error.h"

G_BEGIN_DECLS

/**
 * TETHER_PLUGIN_ABI_VERSION:
 *
 * Raised whenever TetherCloudClass, TetherConnection or TetherMessage change
 * in a way that breaks a built plugin. The loader refuses a plugin built for
 * another version.
 */
#define TETHER_PLUGIN_ABI_VERSION 1

typedef struct {
	guint32 abi_version;
	GType (*get_type) (void);
} TetherPluginInfo;

/**
 * TETHER_PLUGIN_ENTRY_POINT:
 *
 * The one symbol a plugin module exports.
 */
#define TETHER_PLUGIN_ENTRY_POINT "tether_plugin_get_info"

/**
 * TETHER_PLUGIN_DEFINE:
 * @get_type_func: the get_type function of the plugin's TetherCloud subclass
 *
 * Defines the plugin's entry point. Use it once, in one file of the plugin.
 */
#define TETHER_PLUGIN_DEFINE(get_type_func)                                                        \
	G_MODULE_EXPORT const TetherPluginInfo *tether_plugin_get_info (void);                     \
	const TetherPluginInfo *tether_plugin_get_info (void)                                      \
	{                                                                                          \
		static const TetherPluginInfo info = { TETHER_PLUGIN_ABI_VERSION, get_type_func }; \
		return &info;                                                                      \
	}

G_END_DECLS
