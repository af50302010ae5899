using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Messaging;

namespace ScheduledPosts.Scheduling.Watch;

/// <summary>
/// The depth of every queue in the service's virtual host, from RabbitMQ's management API
/// (<see cref="WatchOptions.BrokerManagementUrl"/>, as the service's monitor user, <see cref="WatchOptions.BrokerManagementUsername"/>).
/// MassTransit's <c>*_error</c> queues are where a message lands after its retries: their total is reported apart.
/// </summary>
public sealed class BrokerQueues(IHttpClientFactory httpClients, IOptions<WatchOptions> watch, IConfiguration configuration)
{
    public const string HttpClientName = "broker-management";

    private readonly RabbitMqOptions _rabbit = configuration.GetSection(RabbitMqOptions.Section).Get<RabbitMqOptions>() ?? new RabbitMqOptions();

    public async Task<QueuesJson> ReadAsync(CancellationToken ct)
    {
        if (watch.Value.BrokerManagementUrl is not { } management)
        {
            return QueuesJson.Unavailable("Watch:BrokerManagementUrl is not set.");
        }

        try
        {
            var http = httpClients.CreateClient(HttpClientName);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(management,
                $"api/queues/{Uri.EscapeDataString(_rabbit.VirtualHost)}?columns=name,messages,messages_ready,messages_unacknowledged,consumers"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{watch.Value.BrokerManagementUsername}:{watch.Value.BrokerManagementPassword}")));
            using var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
            {
                return QueuesJson.Unavailable($"The management API answered {(int)response.StatusCode}.");
            }

            var queues = await response.Content.ReadFromJsonAsync<List<ManagementQueue>>(ct) ?? [];
            var data = queues.OrderBy(q => q.Name, StringComparer.Ordinal)
                .Select(q => new QueueJson(q.Name, q.Messages, q.Ready, q.Unacknowledged, q.Consumers, IsErrorQueue(q.Name)))
                .ToList();
            return new QueuesJson(true, null, data.Where(q => q.ErrorQueue).Sum(q => q.Messages), data);
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return QueuesJson.Unavailable($"The management API could not be read: {e.Message}");
        }
    }

    private static bool IsErrorQueue(string name) => name.EndsWith("_error", StringComparison.Ordinal);

    private sealed record ManagementQueue(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("messages")] long Messages,
        [property: JsonPropertyName("messages_ready")] long Ready,
        [property: JsonPropertyName("messages_unacknowledged")] long Unacknowledged,
        [property: JsonPropertyName("consumers")] int Consumers);
}

/// <param name="Available">False when the management API is not configured or did not answer; then <paramref name="Reason"/> says why.</param>
/// <param name="ErrorMessages">Messages in the <c>*_error</c> queues: each one failed its consumer past its retries.</param>
public sealed record QueuesJson(bool Available, string? Reason, long ErrorMessages, IReadOnlyList<QueueJson> Data)
{
    public static QueuesJson Unavailable(string reason) => new(false, reason, 0, []);
}

/// <param name="Ready">Waiting for a consumer.</param>
/// <param name="Unacknowledged">Delivered to a consumer and not yet acknowledged.</param>
public sealed record QueueJson(string Name, long Messages, long Ready, long Unacknowledged, int Consumers, bool ErrorQueue);
