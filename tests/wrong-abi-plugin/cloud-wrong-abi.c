/*
 * A plugin module built for another plugin ABI: the loader must refuse it
 * before it asks for its type.
 */
#include "tether-plugin.h"

G_MODULE_EXPORT const TetherPluginInfo *tether_plugin_get_info (void);

const TetherPluginInfo *
tether_plugin_get_info (void)
{
	static const TetherPluginInfo info = { TETHER_PLUGIN_ABI_VERSION + 1, NULL };

	return &info;
}
