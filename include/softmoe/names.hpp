#pragma once
// The names of enumerated settings. Each enum has one table of (value, name) pairs beside its
// definition; the command line (src/cli), the JSON readers and the writers all use that table, so a
// setting is an enum from the moment it is parsed and its name is written in one place only.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace softmoe {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

template <class E, std::size_t N>
const char* name_of(E value, const EnumName<E> (&table)[N]) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

// "a, b or c"
template <class E, std::size_t N>
std::string names_list(const EnumName<E> (&table)[N]) {
  std::string list;
  for (std::size_t i = 0; i < N; ++i) list += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(table[i].name);
  return list;
}

// The value named `name`; std::invalid_argument "unknown WHAT 'name' (expected ...)" otherwise.
template <class E, std::size_t N>
E value_named(std::string_view name, const EnumName<E> (&table)[N], const char* what) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  throw std::invalid_argument("unknown " + std::string(what) + " '" + std::string(name) + "' (expected " +
                              names_list(table) + ")");
}

}  // namespace softmoe
