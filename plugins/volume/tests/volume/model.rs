//! Random operation sequences against a simple model of the plugin.

use crate::util::{buffered, Harness, Model, Op};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    /// Close and reopen the plugin.
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    // Few names and IDs, so sequences collide: double mounts, unmounts of
    // unknown IDs, removes of mounted volumes, re-creates.
    let name = || prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    let id = || prop::sample::select(vec!["m1", "m2", "m3"]).prop_map(str::to_owned);
    prop_oneof![
        2 => (name(), prop::option::of(0u8..3)).prop_map(|(n, o)| Step::Op(Op::Create(n, o))),
        1 => name().prop_map(|n| Step::Op(Op::Remove(n))),
        3 => (name(), id()).prop_map(|(n, i)| Step::Op(Op::Mount(n, i))),
        3 => (name(), id()).prop_map(|(n, i)| Step::Op(Op::Unmount(n, i))),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Each answer (accepted or refused), the listed state after every reopen,
    /// and the final state match the model. Small `compact_after` puts
    /// snapshots in the middle of most sequences.
    #[test]
    fn random_sequences_match_the_model(steps in prop::collection::vec(step(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut h = Harness::with(|c| {
                buffered(c);
                c.compact_after = 5;
            });
            let mut model = Model::default();
            for step in &steps {
                match step {
                    Step::Op(op) => {
                        let answer = h.run(op).await;
                        let accepted = model.apply(op);
                        prop_assert_eq!(answer.status, 200, "{:?}: {:?}", op, answer);
                        prop_assert_eq!(answer.err().is_empty(), accepted, "{:?}: {:?}", op, answer);
                    }
                    Step::Reopen => {
                        h = h.reopen();
                        prop_assert_eq!(h.list().await, h.expected_list(&model));
                    }
                }
            }
            prop_assert_eq!(h.list().await, h.expected_list(&model));
            let h = h.reopen();
            prop_assert_eq!(h.list().await, h.expected_list(&model));
            Ok(())
        })?;
    }
}
