// `sweep`'s summary.csv: Student-t quantiles, intervals over seeds and the grouping of results rows.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "softmoe/errors.hpp"
#include "softmoe/eval/seed_summary.hpp"

using namespace softmoe;

TEST_CASE("student_t_975 matches the tables") {
  // two-sided 95% quantiles from standard tables
  CHECK(student_t_975(1) == doctest::Approx(12.7062).epsilon(1e-5));
  CHECK(student_t_975(2) == doctest::Approx(4.3027).epsilon(1e-5));
  CHECK(student_t_975(9) == doctest::Approx(2.262157).epsilon(1e-6));
  CHECK(student_t_975(30) == doctest::Approx(2.0423).epsilon(1e-5));
  CHECK(student_t_975(1000) == doctest::Approx(1.9623).epsilon(1e-4));
  CHECK(student_t_975(13.89) == doctest::Approx(2.1456).epsilon(1e-3));  // fractional (Welch) df
  CHECK_THROWS(student_t_975(0.5));
}

TEST_CASE("seed_interval: mean, sample sd, t interval; one seed gives a point") {
  const SeedInterval s = seed_interval({1.0, 2.0, 6.0});  // mean 3, sd sqrt(7)
  CHECK(s.seeds == 3);
  CHECK(s.mean == doctest::Approx(3.0));
  CHECK(s.sd == doctest::Approx(std::sqrt(7.0)));
  const double half = 4.302653 * std::sqrt(7.0) / std::sqrt(3.0);
  CHECK(s.low == doctest::Approx(3.0 - half).epsilon(1e-5));
  CHECK(s.high == doctest::Approx(3.0 + half).epsilon(1e-5));
  const SeedInterval one = seed_interval({0.5});
  CHECK(one.sd == 0);
  CHECK(one.low == 0.5);
  CHECK(one.high == 0.5);
  CHECK_THROWS(seed_interval({}));
}

TEST_CASE("seed_summary_csv groups by the settings without seed, per method and k, and skips empty fields") {
  const std::vector<std::vector<std::string>> results{
      {"experts", "seed", "hidden", "method", "k", "accuracy", "accuracy_std", "test_loss"},
      {"2", "0", "392", "all", "2", "0.9", "", "0.3"},
      {"2", "0", "392", "topk", "1", "0.6", "", "0.3"},
      {"2", "1", "392", "all", "2", "0.8", "", "0.5"},
      {"2", "1", "392", "topk", "1", "0.7", "", "0.5"},
      {"4", "0", "196", "all", "4", "0.95", "", ""},
  };
  const std::string csv = seed_summary_csv(results);
  CHECK(csv.find("experts,method,k,metric,seeds,mean,sd,ci95_low,ci95_high,interval\n") == 0);
  // the row of `prefix` (group and metric), as fields
  const auto row = [&csv](const std::string& prefix) {
    std::vector<std::string> fields;
    const auto at = csv.find("\n" + prefix);
    if (at == std::string::npos) return fields;
    std::stringstream line(csv.substr(at + 1, csv.find('\n', at + 1) - at - 1));
    for (std::string f; std::getline(line, f, ',');) fields.push_back(f);
    return fields;
  };
  const auto all2 = row("2,all,2,accuracy,");
  REQUIRE(all2.size() == 10);
  const double half = 12.706205 * std::sqrt(0.005) / std::sqrt(2.0);
  CHECK(all2[4] == "2");
  CHECK(std::stod(all2[5]) == doctest::Approx(0.85));
  CHECK(std::stod(all2[6]) == doctest::Approx(std::sqrt(0.005)));
  CHECK(std::stod(all2[7]) == doctest::Approx(0.85 - half).epsilon(1e-6));
  CHECK(std::stod(all2[8]) == doctest::Approx(0.85 + half).epsilon(1e-6));
  CHECK(all2[9] == "t95");
  CHECK(std::stod(row("2,topk,1,accuracy,")[5]) == doctest::Approx(0.65));
  CHECK(std::stod(row("2,all,2,test_loss,")[5]) == doctest::Approx(0.4));
  CHECK(row("4,all,4,accuracy,") == std::vector<std::string>{"4", "all", "4", "accuracy", "1", "0.95", "0", "0.95", "0.95", "t95"});
  CHECK(row("4,all,4,test_loss,").empty());  // no value: no row
  CHECK(csv.find("accuracy_std") == std::string::npos);
  CHECK(csv.find("seed,") == std::string::npos);
  CHECK_THROWS_AS(seed_summary_csv({{"experts", "seed", "accuracy"}, {"2", "0", "abc"}}), RunError);
}
