#include "accel/kvm/kvm-backend.h"
