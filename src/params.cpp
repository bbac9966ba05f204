#include "softmoe/params.hpp"

#include <algorithm>
#include <stdexcept>

namespace softmoe {

template <class T>
typename ParamBuffer<T>::Id ParamBuffer<T>::add(std::string name, std::vector<std::size_t> shape) {
  if (allocated_) throw std::logic_error("ParamBuffer::add after allocate: " + name);
  if (find(name)) throw std::logic_error("ParamBuffer::add: duplicate name " + name);
  std::size_t size = 1;
  for (auto dim : shape) size *= dim;
  entries_.push_back(ParamEntry{std::move(name), std::move(shape), total_, size});
  total_ += size;
  return entries_.size() - 1;
}

template <class T>
void ParamBuffer<T>::allocate() {
  values_ = make_buffer<T>(total_);
  grads_ = make_buffer<T>(total_);
  allocated_ = true;
}

template <class T>
void ParamBuffer<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
std::optional<typename ParamBuffer<T>::Id> ParamBuffer<T>::find(const std::string& name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return i;
  return std::nullopt;
}

template class ParamBuffer<float>;
template class ParamBuffer<double>;

}  // namespace softmoe
