# Sourced on the GPU machine from the repository root (tests/gpu/pack.sh copies it
# into .gpu/): the carried Debian packages, the packed binaries, and a fallback
# library only for what that machine lacks (linking all of them would replace
# its own newer ones).
source .device/setup.sh
mkdir -p /tmp/plx-fallback
export LD_LIBRARY_PATH=$PWD/.gpu/bin:$LD_LIBRARY_PATH:/tmp/plx-fallback
for round in 1 2 3 4; do  # a fallback library may need another one
  for lib in $(ldd .gpu/bin/parallax .gpu/bin/plx_unit_* 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
    [ -e ".gpu/fallback/$lib" ] && ln -sf "$PWD/.gpu/fallback/$lib" "/tmp/plx-fallback/$lib"
  done
done
export PATH=$PWD/.gpu/bin:$PATH
