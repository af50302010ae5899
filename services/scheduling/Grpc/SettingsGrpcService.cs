using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>The workspace's scheduling settings for internal callers (settings.proto), over the same <see cref="WorkspaceSettings"/> as REST.</summary>
public sealed class SettingsGrpcService(WorkspaceSettings settings) : V1.Settings.SettingsBase
{
    private const string PublishLead = "publish_lead_seconds";
    private const string CancelCutoff = "cancel_cutoff_seconds";

    [Authorize(Policy = InternalPolicies.SettingsRead)]
    public override async Task<V1.SchedulingSettings> GetSchedulingSettings(V1.GetSchedulingSettingsRequest request, ServerCallContext context)
        => Message(await settings.GetAsync(Who(context).WorkspaceId));

    [Authorize(Policy = InternalPolicies.SettingsWrite)]
    public override async Task<V1.SchedulingSettings> UpdateSchedulingSettings(V1.UpdateSchedulingSettingsRequest request, ServerCallContext context)
    {
        if (request.UpdateMask?.Paths.FirstOrDefault(p => p is not (PublishLead or CancelCutoff)) is { } unknown)
        {
            throw ApiException.Validation("update_mask", $"update_mask names '{unknown}'; it may name {PublishLead} and {CancelCutoff}.");
        }

        var values = request.Settings ?? new V1.SchedulingSettings();
        // Without a mask, the fields set (AIP-134); a zero cannot be told from an unset field then, so setting one to 0 takes a mask.
        bool Updates(string field, int value) => request.UpdateMask is { } mask ? mask.Paths.Contains(field) : value != 0;
        var update = new UpdateWorkspaceSettingsRequest(
            Updates(PublishLead, values.PublishLeadSeconds) ? values.PublishLeadSeconds : null,
            Updates(CancelCutoff, values.CancelCutoffSeconds) ? values.CancelCutoffSeconds : null);
        return Message(await settings.UpdateAsync(Who(context).WorkspaceId, update));
    }

    private static V1.SchedulingSettings Message(WorkspaceSettingsView view)
        => new() { PublishLeadSeconds = view.PublishLeadSeconds, CancelCutoffSeconds = view.CancelCutoffSeconds };

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());
}
