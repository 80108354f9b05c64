/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define __TETHER_H_INSIDE__

#include "tether-cloud.h"
#include "tether-connection.h"
#include "tether-error.h"
#include "tether-message.h"
#include "tether-plugin.h"

#undef __TETHER_H_INSIDE__
