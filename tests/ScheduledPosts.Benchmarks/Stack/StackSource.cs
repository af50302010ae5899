namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>
/// Hands each scenario its suite: a fresh one per scenario for the real figures, or (<c>--quick</c>) one shared by all,
/// since starting five processes four times would be most of a CI run.
/// </summary>
public sealed class StackSource(bool share) : IAsyncDisposable
{
    private BenchStack? _shared;

    public bool Shared => share;

    public async Task<Lease> GetAsync(string scenario)
    {
        if (!share)
        {
            return new Lease(await BenchStack.StartAsync(scenario), owned: true);
        }

        _shared ??= await BenchStack.StartAsync("shared");
        return new Lease(_shared, owned: false);
    }

    public sealed class Lease(BenchStack stack, bool owned) : IAsyncDisposable
    {
        public BenchStack Stack => stack;

        public ValueTask DisposeAsync() => owned ? stack.DisposeAsync() : ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _shared?.DisposeAsync() ?? ValueTask.CompletedTask;
}
