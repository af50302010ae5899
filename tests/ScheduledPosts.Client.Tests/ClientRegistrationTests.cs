using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Client.Tests;

/// <summary>
/// What <c>AddScheduledPostsClient</c> promises a .NET service, against a stand-in gateway on loopback: the key on every
/// call, <c>UNAVAILABLE</c> retried by gRPC's retry policy and nothing else retried, a deadline on every call, the key
/// never in the logs, and options checked before the first call.
/// </summary>
public sealed class ClientRegistrationTests : IAsyncLifetime
{
    private const string Key = "sp_client_test_key_0123456789abcdef";
    private FakeGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await FakeGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task An_unavailable_answer_is_retried_with_the_key_and_the_call_succeeds()
    {
        _gateway.Posts.Failures.Enqueue(StatusCode.Unavailable);
        await using var provider = Client();

        var post = await provider.GetRequiredService<Posts.PostsClient>().GetPostAsync(new GetPostRequest { PostId = "post_1" });

        Assert.Equal("post_1", post.Id);
        Assert.Equal(["Bearer " + Key, "Bearer " + Key], _gateway.Posts.Attempts.Select(a => a.Authorization));
    }

    [Fact]
    public async Task A_retried_create_carries_one_idempotency_key_on_every_attempt_and_a_callers_own_key_is_kept()
    {
        _gateway.Posts.Failures.Enqueue(StatusCode.Unavailable);
        await using var provider = Client();
        var posts = provider.GetRequiredService<Posts.PostsClient>();

        await posts.CreatePostAsync(new CreatePostRequest { Caption = "once" });
        await posts.CreatePostAsync(new CreatePostRequest { Caption = "twice" });
        await posts.CreatePostAsync(new CreatePostRequest { Caption = "mine" }, new Metadata { { "idempotency-key", "my-own-key" } });
        await posts.GetPostAsync(new GetPostRequest { PostId = "post_1" });

        var keys = _gateway.Posts.Attempts.Select(a => a.IdempotencyKey).ToList();
        Assert.Equal(5, keys.Count);
        Assert.False(string.IsNullOrEmpty(keys[0]));
        Assert.Equal(keys[0], keys[1]); // the retry of the first create
        Assert.NotEqual(keys[0], keys[2]); // another create, another key
        Assert.Equal("my-own-key", keys[3]);
        Assert.Null(keys[4]); // a read needs none
    }

    [Fact]
    public async Task Retries_stop_after_max_attempts_with_the_last_unavailable()
    {
        for (int i = 0; i < 5; i++)
        {
            _gateway.Posts.Failures.Enqueue(StatusCode.Unavailable);
        }

        await using var provider = Client(o => o.MaxAttempts = 3);

        var error = await Assert.ThrowsAsync<RpcException>(() => provider.GetRequiredService<Posts.PostsClient>().GetPostAsync(new GetPostRequest { PostId = "post_1" }).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(3, _gateway.Posts.Attempts.Count);
    }

    [Theory]
    [InlineData(StatusCode.NotFound)]
    [InlineData(StatusCode.Unauthenticated)]
    [InlineData(StatusCode.Internal)]
    public async Task Other_failures_are_not_retried(StatusCode code)
    {
        _gateway.Posts.Failures.Enqueue(code);
        await using var provider = Client();

        var error = await Assert.ThrowsAsync<RpcException>(() => provider.GetRequiredService<Posts.PostsClient>().GetPostAsync(new GetPostRequest { PostId = "post_1" }).ResponseAsync);

        Assert.Equal(code, error.StatusCode);
        Assert.Single(_gateway.Posts.Attempts);
    }

    [Fact]
    public async Task A_call_without_a_deadline_gets_the_configured_one_and_one_with_its_own_keeps_it()
    {
        await using var provider = Client(o => o.Deadline = TimeSpan.FromSeconds(7));
        var posts = provider.GetRequiredService<Posts.PostsClient>();

        var before = DateTime.UtcNow;
        await posts.GetPostAsync(new GetPostRequest { PostId = "post_1" });
        await posts.GetPostAsync(new GetPostRequest { PostId = "post_2" }, deadline: before.AddMinutes(5));
        var after = DateTime.UtcNow;

        // The server reads a deadline as a timeout from when the call reached it, so it may land a little later.
        var deadlines = _gateway.Posts.Attempts.Select(a => a.Deadline).ToList();
        Assert.InRange(deadlines[0], before.AddSeconds(6), after.AddSeconds(7));
        Assert.InRange(deadlines[1], before.AddMinutes(5).AddSeconds(-1), after.AddMinutes(5));
    }

    [Fact]
    public async Task The_key_is_never_logged_even_where_the_application_logs_header_values()
    {
        var logs = new CapturedLogs();
        // An application that shows header values in its HTTP logs, to debug its other clients.
        await using var provider = Client(logs: logs, application: s => s.ConfigureHttpClientDefaults(http => http.RedactLoggedHeaders(_ => false)));

        await provider.GetRequiredService<Posts.PostsClient>().GetPostAsync(new GetPostRequest { PostId = "post_1" });

        // The HTTP client's trace log of the request headers was written, with the header but not its value.
        Assert.Contains(logs.Messages, m => m.Contains("authorization", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(logs.Messages, m => m.Contains(Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_without_address_or_key_does_not_start_and_says_what_is_missing()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddScheduledPostsClient(_ => { });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("ScheduledPostsClientOptions.Address is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("ScheduledPostsClientOptions.ApiKey is required", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_host_the_first_client_made_fails_the_same_way_and_never_echoes_the_key()
    {
        var services = new ServiceCollection();
        services.AddScheduledPostsClient(o => o.ApiKey = "sp_pasted with a space");
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<Posts.PostsClient>());

        Assert.Contains("ScheduledPostsClientOptions.Address is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("ScheduledPostsClientOptions.ApiKey must not contain spaces", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sp_pasted", error.Message, StringComparison.Ordinal);
    }

    private ServiceProvider Client(Action<ScheduledPostsClientOptions>? configure = null, ILoggerProvider? logs = null,
        Action<IServiceCollection>? application = null)
    {
        var services = new ServiceCollection();
        application?.Invoke(services);
        services.AddLogging(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Trace);
            if (logs is not null)
            {
                logging.AddProvider(logs);
            }
        });
        services.AddScheduledPostsClient(o =>
        {
            o.Address = _gateway.Address;
            o.ApiKey = Key;
            o.InitialBackoff = TimeSpan.FromMilliseconds(10);
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    private sealed class CapturedLogs : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            Messages.Enqueue(state.ToString() ?? "");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Messages.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }
}
