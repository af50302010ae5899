using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.Gateway.Tests;

public sealed class RequestLimitTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private const int MiB = 1024 * 1024;
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Theory]
    [InlineData("/v1/posts")]
    [InlineData("/v1/api-keys")]
    public async Task A_body_over_1_MiB_is_a_413_envelope_and_is_not_forwarded(string path)
    {
        string requestId = $"big-{Guid.NewGuid():N}";
        using var request = Http.Request(HttpMethod.Post, path, bearer: GatewayFactory.BootstrapKey);
        request.Headers.Add("X-Request-Id", requestId);
        request.Content = new StringContent($$"""{"caption": "{{new string('x', MiB)}}"}""", Encoding.UTF8, "application/json");

        var response = await _client.SendAsync(request);

        await response.AssertEnvelopeAsync(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
        Assert.Equal(requestId, response.RequestId());
        Assert.DoesNotContain(fixture.Scheduling.Received, r => r.Header("X-Request-Id").Contains(requestId));
    }

    [Fact]
    public async Task A_body_just_under_1_MiB_goes_through()
    {
        using var request = Http.Request(HttpMethod.Post, "/v1/posts", bearer: GatewayFactory.BootstrapKey);
        request.Content = new StringContent(new string('x', MiB - 100), Encoding.UTF8, "application/json");

        await (await _client.SendAsync(request)).EchoAsync();
    }

    [Fact]
    public async Task Media_uploads_may_be_larger()
    {
        using var request = Http.Request(HttpMethod.Post, "/v1/media", bearer: GatewayFactory.BootstrapKey);
        request.Content = new ByteArrayContent(new byte[3 * MiB]);
        request.Content.Headers.ContentType = new("image/png");

        await (await _client.SendAsync(request)).EchoAsync();
    }
}

/// <summary>The request id a client sees (header, error body) is on the gateway's log lines for that request.</summary>
public sealed class RequestIdLoggingTests
{
    [Fact]
    public async Task The_gateway_logs_each_request_with_its_request_id()
    {
        await using var resources = new ScheduledPosts.Testing.TestResources();
        string database = await resources.CreateDatabaseAsync();
        var logs = new CapturingLoggerProvider();
        await using var gateway = GatewayFactory.Create(database);
        using var withLogs = gateway.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<ILoggerProvider>(logs)));
        string requestId = $"trace-me-{Guid.NewGuid():N}";

        var response = await withLogs.CreateClient().SendAsync(HttpMethod.Get, "/v1/posts", bearer: "sp_not_a_key_0123456789_0123456789_abcdef", requestId: requestId);

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Contains(logs.Lines, line => line.Contains("/v1/posts", StringComparison.Ordinal) && line.Contains("401", StringComparison.Ordinal)
                                            && line.Contains(requestId, StringComparison.Ordinal));
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => provider.Lines.Enqueue(formatter(state, exception));
        }
    }
}
