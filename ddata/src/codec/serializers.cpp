#include "troupe/ddata/serializers.hpp"

#include "internal/builtin_types.hpp"

namespace troupe::ddata {

void register_data_types(remote::serialization& s) {
  internal::add_scalars(&s, nullptr);
  internal::add_maps(&s, nullptr);
  internal::add_ormaps(&s, nullptr);
}

data_codecs::data_codecs() {
  internal::add_scalars(nullptr, this);
  internal::add_maps(nullptr, this);
  internal::add_ormaps(nullptr, this);
}

expected<wire::bytes, ddata_error> data_codecs::encode(const replicated_data& d) const {
  if (d.empty()) return unexpected<ddata_error>{{ddata_errc::empty_value, "cannot encode an empty value"}};
  const auto it = by_tag_.find(d.type_tag());
  if (it == by_tag_.end()) {
    return unexpected<ddata_error>{{ddata_errc::unknown_type, "no codec for " + std::string(d.type_tag())}};
  }
  return it->second.encode(d);
}

expected<replicated_data, ddata_error> data_codecs::decode(std::string_view tag,
                                                           std::span<const std::uint8_t> bytes) const {
  const auto it = by_tag_.find(tag);
  if (it == by_tag_.end()) {
    return unexpected<ddata_error>{{ddata_errc::unknown_type, "no codec for " + std::string(tag)}};
  }
  return it->second.decode(bytes);
}

}  // namespace troupe::ddata
